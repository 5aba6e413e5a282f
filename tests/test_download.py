"""The downloader against a loopback HTTP server that injects faults (never the network)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vidspace.datasets.fetch import DownloadError, Item, fetch, fetch_many, safe_extract

BODY = bytes(range(256)) * 400  # 100 KiB


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.failing: set[str] = set()  # paths that fail their first request

    def hit(self, path):
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.hits[path]


def make_handler(faults: Faults):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, body: bytes, status=200, start=0, total=None):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{total}")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            n = faults.hit(self.path)
            start = 0
            if self.headers.get("Range"):
                start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            name = self.path.strip("/")
            if name.startswith("file") and self.path in faults.failing and n == 1:
                return self._send(b"oops", status=500)
            if name.startswith("file") or name == "ok":
                body = BODY + name.encode()
                if start:
                    return self._send(body[start:], 206, start, len(body))
                return self._send(body)
            if name == "drop":  # first request: half the body, then the connection dies
                if n == 1:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY[: len(BODY) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                return self._send(BODY[start:], 206 if start else 200, start, len(BODY))
            if name == "flaky":
                return self._send(b"busy", 503) if n <= 2 else self._send(BODY)
            if name == "slow":
                time.sleep(1.5)
                return self._send(BODY)
            if name == "big":
                return self._send(BODY * 10)
            return self._send(b"no", 404)

    return Handler


@pytest.fixture()
def server():
    faults = Faults()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(faults))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", faults
    httpd.shutdown()
    httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_dropped_connection_resumes_with_range(server, tmp_path):
    url, faults = server
    out = fetch(f"{url}/drop", tmp_path / "d.bin", sha256=sha(BODY), backoff=0.01)
    assert out.read_bytes() == BODY
    assert faults.hits["/drop"] == 2
    assert not (tmp_path / "d.bin.part").exists()


def test_server_errors_then_success(server, tmp_path):
    url, faults = server
    fetch(f"{url}/flaky", tmp_path / "f.bin", backoff=0.01)
    assert faults.hits["/flaky"] == 3


def test_wrong_checksum_fails_and_leaves_nothing(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(f"{url}/ok", tmp_path / "c.bin", sha256="0" * 64, retries=1, backoff=0.01)
    assert list(tmp_path.iterdir()) == []


def test_timeout_and_not_found(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="timeout"):
        fetch(f"{url}/slow", tmp_path / "s.bin", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(DownloadError, match="not found"):
        fetch(f"{url}/missing", tmp_path / "m.bin")
    assert list(tmp_path.iterdir()) == []


def test_size_limit(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="too large"):
        fetch(f"{url}/big", tmp_path / "b.bin", max_bytes=len(BODY))
    assert not (tmp_path / "b.bin").exists()


def test_unreachable_host_names_it(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach no-such-host.invalid.*source: local"):
        fetch("http://no-such-host.invalid/x", tmp_path / "x", retries=0)


def test_many_files_with_faults_all_verified_once(server, tmp_path):
    url, faults = server
    names = [f"file{i:02d}" for i in range(20)]
    faults.failing = {f"/{n}" for n in names[::5]}  # 20 % fail their first request
    items = [Item(f"{url}/{n}", tmp_path / f"{n}.bin", sha(BODY + n.encode())) for n in names]
    ok, failed = fetch_many(items, workers=4, backoff=0.01)
    assert failed == [] and len(ok) == 20
    assert all(p.read_bytes() == BODY + p.stem.encode() for p in ok)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.bin" for n in names)
    before = dict(faults.hits)
    again, failed = fetch_many(items, workers=4)
    assert failed == [] and len(again) == 20
    assert faults.hits == before  # nothing fetched twice


def test_one_failure_does_not_stop_the_rest(server, tmp_path):
    url, _ = server
    ok, failed = fetch_many(
        [Item(f"{url}/ok", tmp_path / "a"), Item(f"{url}/missing", tmp_path / "b")]
    )
    assert [p.name for p in ok] == ["a"]
    assert failed[0]["reason"] == "not found"


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_safe_extract_zip_and_tar(tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip({"ann/x.json": b"{}", "y.txt": b"y"}))
    out = safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert (out / "ann/x.json").read_bytes() == b"{}"
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo("dir/z.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"z"))
    assert (safe_extract(tmp_path / "b.tar.gz", tmp_path / "out2") / "dir/z.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_is_rejected(tmp_path, name):
    (tmp_path / "s.zip").write_bytes(_zip({"ok.txt": b"1", name: b"x"}))
    with pytest.raises(ValueError, match="unsafe path"):
        safe_extract(tmp_path / "s.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_tar_link_escaping_is_rejected(tmp_path):
    with tarfile.open(tmp_path / "l.tar", "w") as t:
        link = tarfile.TarInfo("inside/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        t.addfile(link)
    with pytest.raises(ValueError, match="escapes the target"):
        safe_extract(tmp_path / "l.tar", tmp_path / "out")


def test_truncated_archive(tmp_path):
    data = _zip({"x.txt": b"x" * 1000})
    (tmp_path / "t.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        safe_extract(tmp_path / "t.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()

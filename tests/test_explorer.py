"""The explorer page and its thumbnails: the stage through its files (the tiny run), its
data against the retrieval stage's ranks and a brute-force search, and the page in a
real headless browser (loads offline without errors, points, hover, retrieval browser)."""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest

from vidspace.analyses.explorer import _json_for_script
from vidspace.analyses.thumbnails import SIDE, jpeg_thumbnail, thumbnails_file
from vidspace.core.io import eval_rows, load_embeddings, load_npz, read_table, subset_videos
from vidspace.core.linalg import l2_normalize

DATA = re.compile(r'<script type="application/json" id="vidspace-data">(.*?)</script>', re.S)


def page_data(path) -> dict:
    return json.loads(DATA.search(path.read_text("utf-8")).group(1))


def _decode(uri: str) -> np.ndarray:
    import torch
    from torchvision.io import decode_jpeg

    assert uri.startswith("data:image/jpeg;base64,")
    raw = torch.frombuffer(bytearray(base64.b64decode(uri.split(",", 1)[1])), dtype=torch.uint8)
    return decode_jpeg(raw).permute(1, 2, 0).numpy()


def test_a_thumbnail_is_the_frame_scaled_down_with_its_aspect_ratio():
    rng = np.random.default_rng(0)
    # smooth content (JPEG keeps it): a gradient with a block, 192 x 288 -> 64 x 96
    y, x = np.mgrid[0:192, 0:288]
    frame = np.stack([x * 255 // 287, y * 255 // 191, np.full_like(x, 90)], -1).astype(np.uint8)
    frame[60:120, 100:200] = (200, 30, 30)
    frame = np.clip(frame + rng.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
    image = _decode("data:image/jpeg;base64," + base64.b64encode(jpeg_thumbnail(frame)).decode())
    assert image.shape == (64, SIDE, 3)
    # the oracle: a 3 x 3 block mean of the frame (NumPy), the same 3x reduction
    blocks = frame.reshape(64, 3, 96, 3, 3).mean(axis=(1, 3))
    assert np.abs(image.astype(float) - blocks).mean() < 4.0
    small = np.zeros((20, 30, 3), np.uint8)  # below SIDE: kept at its size
    assert _decode(
        "data:image/jpeg;base64," + base64.b64encode(jpeg_thumbnail(small)).decode()
    ).shape == (20, 30, 3)
    with pytest.raises(ValueError, match="uint8 frame"):
        jpeg_thumbnail(np.zeros((10, 10), np.uint8))


def test_thumbnails_once_per_dataset_with_the_missing_video_named(tiny_run, tmp_path):
    from vidspace.frames.store import load_frames

    thumbs = json.loads((tiny_run / "results/thumbnails/synthetic.json").read_text())
    manifest = read_table(tiny_run / "data/raw/synthetic/manifest.parquet")
    assert set(thumbs["thumbnails"]) | set(thumbs["missing"]) == set(manifest["video_id"])
    # the tiny dataset's corrupt clip: no frames, so a reason instead of a thumbnail
    assert len(thumbs["missing"]) == 1
    assert "no stored frames" in next(iter(thumbs["missing"].values()))
    store, ids = load_frames(tiny_run / "data/frames/synthetic/u4/frames.npz")
    vid = str(ids[0])
    clip = store.clip(0)
    middle = clip[clip.shape[0] // 2]
    image = _decode(thumbs["thumbnails"][vid])
    assert image.shape == middle.shape  # 48 px frames: below SIDE, kept
    assert np.abs(image.astype(float) - middle).mean() < 12.0
    # the same bytes again (deterministic), from the stage's own function
    again = thumbnails_file(
        str(tiny_run / "data/frames/synthetic/u4/frames.npz"),
        str(tiny_run / "data/raw/synthetic/manifest.parquet"),
        str(tmp_path / "t.json"),
    )
    assert again["thumbnails"] == thumbs["thumbnails"]


def test_script_json_cannot_close_its_element():
    caption = "</script><script>alert(1)</script> & <img src=x onerror=alert(2)> \u2028"
    text = _json_for_script({"c": caption})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"c": caption}


def test_the_page_data_agrees_with_the_ranks_and_a_brute_force_search(tiny_run):
    data = page_data(tiny_run / "results/explorer/synthetic.html")
    videos, captions, k = data["videos"]["ids"], data["captions"], data["k"]
    assert data["models"].keys() == {"random", "aligned", "motion"}
    checked = 0
    for m, entry in data["models"].items():
        for v, ve in entry["variants"].items():
            if "absent" in ve:
                metrics = json.loads(
                    (tiny_run / f"results/metrics/synthetic/{m}/{v}.json").read_text()
                )
                assert "skipped" in metrics, (m, v)
                continue
            ranks = load_npz(tiny_run / f"results/ranks/synthetic/{m}/{v}.npz")
            rank_of = dict(zip(map(str, ranks["text_ids"]), ranks["t2v"].tolist(), strict=True))
            top = np.array(ve["top"]).reshape(-1, k)
            for c, cid in enumerate(captions["ids"]):
                assert ve["rank"][c] == rank_of[cid]
                truth = captions["video"][c]
                row = list(top[c])
                if truth in row:  # where the browser shows the true video, its place is its rank
                    assert ve["rank"][c] == row.index(truth) + 1, (m, v, cid)
                else:
                    assert ve["rank"][c] > k, (m, v, cid)
                checked += 1
    assert checked > 0
    for m, entry in data["models"].items():  # the report's † marks, variant by variant
        for v, ve in entry["variants"].items():
            metrics = json.loads((tiny_run / f"results/metrics/synthetic/{m}/{v}.json").read_text())
            assert ve["transductive"] == metrics.get("transductive", [])
    assert data["models"]["aligned"]["variants"]["dsl"]["transductive"] == ["dual softmax"]
    # the oracle for float32: a brute-force cosine search over the evaluated videos (NumPy)
    arrays = load_embeddings(tiny_run / "results/variants/synthetic/aligned/float32.npz")
    sub = subset_videos(arrays, eval_rows(arrays, "test"))
    scores = l2_normalize(sub["text_emb"]) @ l2_normalize(sub["video_emb"]).T
    ve = data["models"]["aligned"]["variants"]["float32"]
    top = np.array(ve["top"]).reshape(-1, k)
    for i, cid in enumerate(map(str, sub["text_ids"])):
        c = captions["ids"].index(cid)
        expect = [str(sub["video_ids"][j]) for j in np.argsort(-scores[i], kind="stable")[:k]]
        assert [videos[j] for j in top[c]] == expect
        assert np.allclose(
            np.array(ve["score"][c * k : (c + 1) * k]), np.sort(scores[i])[::-1][:k], atol=1e-4
        )


def test_a_model_without_text_or_projection_is_shown_absent_with_its_reason(tiny_run):
    data = page_data(tiny_run / "results/explorer/synthetic.html")
    motion = data["models"]["motion"]  # video-only: maps, but no captions and no retrieval
    assert "umap" in motion["maps"] and "joint" not in motion["maps"]
    assert "no captions" in motion["absent"]["joint"]
    assert all("absent" in ve for ve in motion["variants"].values())
    summary = json.loads((tiny_run / "results/explorer/synthetic.json").read_text())
    assert "motion" in summary["absent"]
    report = (tiny_run / "results/report.md").read_text()
    assert "(explorer/synthetic.html)" in report  # linked from the report


def _requests(driver) -> set[str]:
    messages = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    return {
        m["params"]["request"]["url"]
        for m in messages
        if m["method"] == "Network.requestWillBeSent"
    }


def _points(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#map .scatterlayer .trace .points path")


def test_the_page_in_a_real_browser(tiny_run, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = tiny_run / "results/explorer/synthetic.html"
    browser.get_log("browser"), browser.get_log("performance")  # drop earlier tests' logs
    browser.get(page.as_uri())
    time.sleep(0.5)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors  # no console errors (a policy violation would be one)
    requests = _requests(browser)
    assert requests and all(u == page.as_uri() or u.startswith("data:") for u in requests), requests

    def scatter_rows(model):
        arrays = load_embeddings(tiny_run / f"results/embeddings/synthetic/{model}.npz")
        return int(eval_rows(arrays, "test").sum())

    captions = read_table(tiny_run / "data/raw/synthetic/captions.parquet")
    first = dict(zip(captions["video_id"][::-1], captions["caption"][::-1], strict=True))
    for model in ("aligned", "motion"):
        Select(browser.find_element(By.ID, "map-model")).select_by_value(model)
        Select(browser.find_element(By.ID, "map-projection")).select_by_value("tsne")
        time.sleep(0.3)
        points = _points(browser)
        assert len(points) == scatter_rows(model)
    # hovering a point shows its video and the video's caption
    ActionChains(browser).move_to_element(points[2]).perform()
    time.sleep(0.3)
    shown = browser.find_element(By.ID, "hover-id").text
    vid = shown.split()[-1]
    assert (
        shown.startswith("video ")
        and browser.find_element(By.ID, "hover-caption").text == first[vid]
    )
    assert browser.find_element(By.ID, "hover-img").get_attribute("src").startswith("data:image/")
    # the joint map of a model with text: videos and their first captions
    Select(browser.find_element(By.ID, "map-model")).select_by_value("aligned")
    Select(browser.find_element(By.ID, "map-projection")).select_by_value("joint")
    time.sleep(0.3)
    assert len(_points(browser)) == 2 * scatter_rows("aligned")
    # a model without a joint map: absent, with the reason
    Select(browser.find_element(By.ID, "map-model")).select_by_value("motion")
    time.sleep(0.3)
    assert "no captions" in browser.find_element(By.ID, "map-absent").text

    # retrieval browser: pick a caption, K thumbnails and the rank of results/ranks/
    ranks = load_npz(tiny_run / "results/ranks/synthetic/aligned/float32.npz")
    rank_of = dict(zip(map(str, ranks["text_ids"]), ranks["t2v"].tolist(), strict=True))
    data = page_data(page)
    Select(browser.find_element(By.ID, "rb-model")).select_by_value("aligned")
    Select(browser.find_element(By.ID, "rb-variant")).select_by_value("float32")
    pick = Select(browser.find_element(By.ID, "rb-list"))
    for c in (0, len(data["captions"]["ids"]) - 1):
        pick.select_by_value(str(c))
        cards = browser.find_elements(By.CSS_SELECTOR, "#rb-results .card")
        assert len(cards) == data["k"]
        assert all(
            c.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:image/")
            for c in cards
        )
        shown_rank = int(browser.find_element(By.ID, "rb-true").get_attribute("data-rank"))
        assert shown_rank == rank_of[data["captions"]["ids"][c]]
    # a variant fitted on the evaluated clips is marked as the report marks it
    variant = Select(browser.find_element(By.ID, "rb-variant"))
    labels = {o.get_attribute("value"): o.text for o in variant.options}
    assert labels["dsl"] == "dsl †" and labels["float32"] == "float32"
    variant.select_by_value("dsl")
    assert "dual softmax" in browser.find_element(By.ID, "rb-fitted").text
    # search narrows the list to matching captions
    word = data["captions"]["text"][0].split()[-1]
    browser.find_element(By.ID, "rb-search").send_keys(word)
    options = [o.text for o in pick.options]
    assert options and all(word.lower() in o.lower() for o in options)
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_script_caption_stays_text_and_a_missing_thumbnail_a_placeholder(
    tiny_run, tmp_path, browser
):
    """The stage's CLI (as its rule runs it) on the tiny run's files, with a caption that is
    markup and a thumbnail that could not be made."""
    import subprocess
    import sys

    from conftest import REPO, TINY_CONFIG, tool_env
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    captions = read_table(tiny_run / "data/raw/synthetic/captions.parquet")
    ranks = load_npz(tiny_run / "results/ranks/synthetic/aligned/float32.npz")
    target = str(ranks["text_ids"][0])  # an evaluated caption
    evil = '</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    captions.loc[captions["caption_id"] == target, "caption"] = evil
    captions.to_parquet(tmp_path / "captions.parquet")
    thumbs = json.loads((tiny_run / "results/thumbnails/synthetic.json").read_text())
    gone = str(ranks["video_ids"][0])  # an evaluated video loses its thumbnail
    del thumbs["thumbnails"][gone]
    thumbs["missing"][gone] = "thumbnail could not be made: test"
    (tmp_path / "thumbs.json").write_text(json.dumps(thumbs))
    models, variants = list(TINY_CONFIG["models"]), list(TINY_CONFIG["variants"])
    r = tiny_run / "results"
    inputs = {
        "thumbnails": str(tmp_path / "thumbs.json"),
        "manifest": str(tiny_run / "data/raw/synthetic/manifest.parquet"),
        "captions": str(tmp_path / "captions.parquet"),
        "coordinates": {m: str(r / f"projections/synthetic/{m}.npz") for m in models},
        "projections": {m: str(r / f"projections/synthetic/{m}.json") for m in models},
        "clusters": {m: str(r / f"clustering/synthetic/{m}.labels.npz") for m in models},
        "categories": {m: str(r / f"categories/synthetic/{m}.json") for m in models},
        "variants": {
            f"{m}/{v}": str(r / f"variants/synthetic/{m}/{v}.npz") for m in models for v in variants
        },
        "ranks": {
            f"{m}/{v}": str(r / f"ranks/synthetic/{m}/{v}.npz") for m in models for v in variants
        },
        "metrics": {
            f"{m}/{v}": str(r / f"metrics/synthetic/{m}/{v}.json") for m in models for v in variants
        },
    }
    page = tmp_path / "explorer/synthetic.html"
    outputs = {"summary": str(tmp_path / "explorer/synthetic.json"), "explorer": str(page)}
    config = {"evaluation": {"split": "test"}, "seed": 0}
    subprocess.run(
        [
            sys.executable,
            "scripts/analysis.py",
            "explorer",
            "--module",
            "vidspace.analyses.explorer",
        ]
        + ["--inputs", json.dumps(inputs), "--outputs", json.dumps(outputs)]
        + ["--config", json.dumps(config)],
        cwd=REPO,
        env=tool_env(),
        check=True,
    )
    assert page_data(page)["captions"]["text"][0] == evil  # kept as it was written
    browser.get_log("browser")
    browser.get(page.as_uri())
    time.sleep(0.5)
    Select(browser.find_element(By.ID, "rb-model")).select_by_value("aligned")
    Select(browser.find_element(By.ID, "rb-list")).select_by_value("0")
    assert browser.find_element(By.ID, "rb-query").text == evil  # shown as text
    assert browser.execute_script("return window.pwned") is None  # never executed
    assert not browser.find_elements(By.CSS_SELECTOR, "#rb-query img, #rb-query script")
    # the video without a thumbnail: an evaluated video somewhere in some top K
    data = page_data(page)
    shown = [
        c
        for c in range(len(data["captions"]["ids"]))
        if data["videos"]["ids"].index(gone)
        in data["models"]["aligned"]["variants"]["float32"]["top"][
            c * data["k"] : (c + 1) * data["k"]
        ]
    ]
    assert shown  # the video is in some caption's top K
    Select(browser.find_element(By.ID, "rb-list")).select_by_value(str(shown[0]))
    placeholder = [
        img
        for img in browser.find_elements(By.CSS_SELECTOR, "#rb-results img")
        if img.get_attribute("src").startswith("data:image/svg+xml")
    ]
    assert len(placeholder) == 1 and "test" in placeholder[0].get_attribute("title")
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

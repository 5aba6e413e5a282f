"""Benchmark protocols and published anchors: each protocol's data on fixtures in its real
annotation format, the deviations a run is told about, the verdict against known
intervals, MTEB's own loader reading our results file back, and bad input named by key."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG

from vidspace.analyses.published import (
    measured_value,
    mteb_result,
    published_file,
    run_deviations,
    variant_deviations,
    verdict,
)
from vidspace.core.config import ConfigError, validate_config
from vidspace.datasets import download
from vidspace.protocols import PROTOCOLS, anchors_from_mteb, get_protocol, published


def _msrvtt_fixture(tmp_path):
    """CLIP4Clip's msrvtt_data files in their formats: the JSFusion test CSV (key,
    vid_key, video_id, sentence; 1,000 rows), MSRVTT_data.json (videos with split and
    category, 20 sentences per video) and the 9k train list; empty video files."""
    rng = np.random.default_rng(0)
    n = 10000
    split = ["train"] * 6513 + ["validate"] * 497 + ["test"] * 2990
    videos = [
        {"category": int(rng.integers(20)), "video_id": f"video{i}", "split": split[i], "id": i}
        for i in range(n)
    ]
    sentences = [
        {"caption": f"caption {k} of video {i}", "video_id": f"video{i}", "sen_id": 20 * i + k}
        for i in range(n)
        for k in range(20)
    ]
    (tmp_path / "MSRVTT_data.json").write_text(
        json.dumps({"videos": videos, "sentences": sentences})
    )
    test_ids = sorted(rng.choice(np.arange(7010, 10000), 1000, replace=False))
    pd.DataFrame(
        {
            "key": [f"ret{i}" for i in range(1000)],
            "vid_key": [f"msr{v}" for v in test_ids],
            "video_id": [f"video{v}" for v in test_ids],
            "sentence": [f"the 1k-A caption of video{v}" for v in test_ids],
        }
    ).to_csv(tmp_path / "MSRVTT_JSFUSION_test.csv", index=False)
    others = [i for i in range(7010) if f"video{i}" not in set()]
    pd.DataFrame({"video_id": [f"video{i}" for i in others[:9000]]}).to_csv(
        tmp_path / "MSRVTT_train.9k.csv", index=False
    )
    (tmp_path / "videos").mkdir()
    for i in range(7010, n):
        (tmp_path / "videos" / f"video{i}.mp4").touch()
    return {
        "annotations": {"path": str(tmp_path / "MSRVTT_JSFUSION_test.csv")},
        "data": {"path": str(tmp_path / "MSRVTT_data.json")},
        "videos": {"path": str(tmp_path / "videos")},
    }


def _download(tmp_path, options):
    raw = tmp_path / "raw"
    download("msrvtt", options, 0, raw / "m.parquet", raw / "c.parquet", raw / "f.csv", raw / "v")
    return pd.read_parquet(raw / "m.parquet"), pd.read_parquet(raw / "c.parquet")


def test_1k_a_gives_1000_queries_one_caption_each_and_full_20_each(tmp_path):
    options = _msrvtt_fixture(tmp_path)
    one_k = get_protocol("clip4clip-msrvtt-1ka").data["msrvtt"]
    manifest, captions = _download(
        tmp_path / "a", {**options, "split": one_k["split"][0], "captions": one_k["captions"][0]}
    )
    assert len(manifest) == 1000 and len(captions) == 1000
    assert captions.groupby("video_id").size().eq(1).all()
    assert captions["caption"].str.startswith("the 1k-A caption").all()
    full = get_protocol("msrvtt-full").data["msrvtt"]
    manifest, captions = _download(
        tmp_path / "b", {**options, "split": full["split"][0], "captions": full["captions"][0]}
    )
    assert len(manifest) == 2990 and (manifest["split"] == "test").all()
    assert manifest["video_id"].str[5:].astype(int).between(7010, 9999).all()
    assert len(captions) == 59800 and captions.groupby("video_id").size().eq(20).all()


def test_the_verdict_on_known_intervals():
    assert verdict(31.0, 31.2, [29.0, 33.5]) == "reproduces"  # the anchor in the interval
    assert verdict(29.5, 31.2, [28.0, 30.9]) == "close"  # outside, within 2 points
    assert verdict(21.7, 31.0, [19.2, 24.3]) == "differs"  # xpool issue 11: no L2 norm
    assert verdict(4.0, 4, None) == "reproduces"  # a rank: no interval, equal
    assert verdict(6.0, 4, None) == "close" and verdict(7.0, 4, None) == "differs"
    metrics = {"t2v": {"R@1": 0.312, "MedR": 4.0}, "ci95": {"t2v": {"R@1": [0.28, 0.34]}}}
    value, ci = measured_value(metrics, "t2v R@1")
    assert value == pytest.approx(31.2) and ci == pytest.approx([28.0, 34.0])
    assert measured_value(metrics, "t2v MdR") == (4.0, None)
    assert measured_value(metrics, "t2v R@5") == (None, None)


def _config(**changes):
    config = copy.deepcopy(TINY_CONFIG)
    config["datasets"] = {
        "msrvtt": {
            "adapter": "msrvtt",
            "sampling": "c4c",
            "protocol": "clip4clip-msrvtt-1ka",
            "options": {"annotations": {"path": "a.csv"}, "videos": {"path": "v"}},
        }
    }
    config["samplings"] = {"c4c": {"method": "fps", "fps": 1, "num_frames": 12}}
    config["models"] = {"clip": {"adapter": "clip", "path": "openai/clip-vit-base-patch32"}}
    config["variants"] = {
        "float32": {"kind": "float32"},
        "dsl": {"kind": "float32", "scoring": "dual_softmax"},
    }
    config["evaluation"]["ks"] = [1, 5, 10]
    for key, value in changes.items():
        where = config
        *path, last = key.split(".")
        for part in path:
            where = where[part]
        where[last] = value
    validate_config(config, check_adapters=False)
    return config


def test_a_deviation_is_named_a_protocol_run_has_none():
    protocol = get_protocol("clip4clip-msrvtt-1ka")
    metrics = {"n_videos": 1000, "n_captions": 1000}

    def deviations(config):
        ds = config["datasets"]["msrvtt"]
        return run_deviations(
            protocol,
            "msrvtt",
            ds,
            config["samplings"][ds["sampling"]],
            config["models"]["clip"],
            config["evaluation"],
            metrics,
        )

    assert deviations(_config()) == []
    eight = _config(samplings={"c4c": {"method": "uniform", "num_frames": 8}})
    (line,) = deviations(eight)
    assert (
        line == "frames: method uniform, num_frames 8 where the protocol says method fps, fps 1, "
        "num_frames 12"
    )
    assert variant_deviations(protocol, {"kind": "float32", "scoring": "dual_softmax"}) == [
        "post-processing: DSL on where the protocol ranks by plain cosine"
    ]
    metrics["n_captions"] = 20000
    assert "captions: 20.00 per video where the protocol has 1" in deviations(_config())


def test_the_stage_holds_a_run_against_its_anchors_and_writes_mteb_results(tmp_path):
    import mteb

    config = _config()
    metrics = {}
    for v in config["variants"]:
        m = {
            "n_videos": 1000,
            "n_captions": 1000,
            "t2v": {
                "R@1": 0.30,
                "R@5": 0.55,
                "R@10": 0.66,
                "MedR": 4.0,
                "MeanR": 30.0,
                "NDCG@10": 0.45,
                "MRR": 0.4,
            },
            "v2t": {
                "R@1": 0.24,
                "R@5": 0.50,
                "R@10": 0.61,
                "MedR": 5.0,
                "MeanR": 28.0,
                "NDCG@10": 0.4,
                "MRR": 0.35,
            },
            "ci95": {"t2v": {"R@1": [0.272, 0.329]}, "v2t": {"R@1": [0.215, 0.267]}},
        }
        (tmp_path / f"{v}.json").write_text(json.dumps(m))
        metrics[v] = str(tmp_path / f"{v}.json")
    (tmp_path / "run.json").write_text(json.dumps({"seconds": 12.5}))
    for name in ("manifest", "captions"):
        (tmp_path / f"{name}.parquet").write_bytes(name.encode())
    inputs = {
        "metrics": metrics,
        "run": str(tmp_path / "run.json"),
        "manifest": str(tmp_path / "manifest.parquet"),
        "captions": str(tmp_path / "captions.parquet"),
    }
    outputs = {"published": str(tmp_path / "p.json"), "mteb": str(tmp_path / "MSRVTT.json")}
    result = published_file(inputs, outputs, config, "msrvtt", "clip")
    rows = {r["metric"]: r for r in result["variants"]["float32"]["anchors"]}
    assert rows["t2v R@1"]["verdict"] == "reproduces"  # 31.2 in [27.2, 32.9]
    assert rows["v2t R@1"]["verdict"] == "differs"  # 27.2 above [21.5, 26.7] by 3.2
    assert rows["t2v MdR"]["verdict"] == "reproduces"
    assert rows["t2v R@5"]["verdict"] == "close" and rows["v2t R@10"]["verdict"] == "close"
    assert result["deviations"] == []
    assert result["variants"]["dsl"]["deviations"] == [
        "post-processing: DSL on where the protocol ranks by plain cosine"
    ]
    # MTEB's own loader reads our file back
    loaded = mteb.TaskResult.from_disk(tmp_path / "MSRVTT.json")
    assert loaded.get_score() == pytest.approx(0.30)  # clip4clip's main score: t2v R@1
    assert loaded.evaluation_time == 12.5 and loaded.dataset_revision.startswith("sha256:")


def test_an_mteb_task_result_round_trips_and_reads_back_as_an_anchor(tmp_path):
    import mteb

    protocol = get_protocol("mteb-msrvtt-t2v")
    metrics = {"t2v": {"R@1": 0.1035, "R@10": 0.3, "NDCG@10": 0.1933, "MRR": 0.2}}
    folder = tmp_path / "microsoft__xclip-base-patch32" / "a2e27a78a2b5d802e894b8a1ef14f3a8ce490963"
    folder.mkdir(parents=True)
    (folder / "MSRVTTT2V.json").write_text(json.dumps(mteb_result(protocol, metrics, 1.0, "x")))
    loaded = mteb.TaskResult.from_disk(folder / "MSRVTTT2V.json")
    assert loaded.task_name == "MSRVTTT2V"
    assert loaded.dataset_revision == "4661603cee25c1fd370e5478a2953203cf37155b"
    assert loaded.get_score() == pytest.approx(0.1933)
    assert mteb.get_task("MSRVTTT2V").metadata.dataset["revision"] == protocol.dataset_revision
    anchors = anchors_from_mteb(folder / "MSRVTTT2V.json", "microsoft/xclip-base-patch32")
    by_metric = {a["metric"]: a for a in anchors}
    assert by_metric["t2v nDCG@10"]["value"] == pytest.approx(19.33)
    assert by_metric["t2v R@1"]["revision"] == "a2e27a78a2b5d802e894b8a1ef14f3a8ce490963"


def test_the_mteb_protocols_name_mteb_s_own_tasks_and_revisions():
    import mteb

    for p in PROTOCOLS.values():
        if p.mteb_task:
            meta = mteb.get_task(p.mteb_task).metadata
            assert meta.dataset["revision"] == p.dataset_revision, p.name
            assert meta.main_score == "ndcg_at_10" and p.main.endswith("nDCG@10")


def test_the_anchors_table_has_a_source_for_every_entry():
    table = published()
    assert len(table) >= 30 and all(a["source"] for a in table)
    clip = {a["metric"]: a["value"] for a in table if a["protocol"] == "clip4clip-msrvtt-1ka"}
    assert clip["t2v R@1"] == 31.2 and clip["v2t MdR"] == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"datasets.msrvtt.protocol": "clip4clip-msrvtt-7k"}, "datasets.msrvtt.protocol"),
        (
            {"datasets.msrvtt.adapter": "synthetic", "datasets.msrvtt.options": {}},
            "describes data of the adapters",
        ),
        (
            {
                "anchors": [
                    {
                        "model": "m",
                        "protocol": "clip4clip-msrvtt-1ka",
                        "metric": "t2v R@1",
                        "value": 1,
                    }
                ]
            },
            "anchors[0].source: missing",
        ),
        (
            {
                "anchors": [
                    {
                        "model": "m",
                        "protocol": "clip4clip-msrvtt-1ka",
                        "metric": "t2v R@10",
                        "value": 1,
                        "source": "x",
                    }
                ],
                "evaluation.ks": [1, 5],
            },
            "anchors[0].metric: 't2v R@10' is not computed",
        ),
        (
            {
                "anchors": [
                    {
                        "model": "m",
                        "protocol": "clip4clip-msrvtt-1ka",
                        "metric": "t2v R@2",
                        "value": 1,
                        "source": "x",
                    }
                ]
            },
            "anchors[0].metric",
        ),
    ],
)
def test_bad_protocols_and_anchors_are_named_by_key(change, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(**change)


@pytest.mark.slow
def test_a_protocol_run_through_the_workflow(tmp_path):
    """The stage through its files: a few generated clips in MSR-VTT's 1k-A format under
    clip4clip-msrvtt-1ka, a tiny CLIP checkpoint with an anchor of the config's own, and
    the report's section."""
    import mteb
    import yaml
    from conftest import make_workdir, snakemake

    from vidspace.datasets.synthetic import render_clip, write_mp4
    from vidspace.testing.checkpoints import build_checkpoint

    work = make_workdir(tmp_path / "w")
    (work / "videos").mkdir()
    rows = []
    shapes = [("red", "circle", "left"), ("blue", "square", "right"), ("green", "triangle", "up")]
    shapes += [
        ("yellow", "circle", "down"),
        ("purple", "square", "grow"),
        ("orange", "triangle", "shrink"),
    ]
    for i, (colour, shape, motion) in enumerate(shapes):
        frames = render_clip(colour, shape, motion, "gray", np.random.default_rng(i), 64, 24)
        write_mp4(work / "videos" / f"video{7010 + i}.mp4", frames, fps=8)
        rows.append(
            [f"ret{i}", f"msr{7010 + i}", f"video{7010 + i}", f"a {colour} {shape} moves {motion}"]
        )
    pd.DataFrame(rows, columns=["key", "vid_key", "video_id", "sentence"]).to_csv(
        work / "MSRVTT_JSFUSION_test.csv", index=False
    )
    clip = build_checkpoint("clip", work / "tiny-clip")
    config = {
        "seed": 0,
        "device": "cpu",
        "datasets": {
            "msrvtt": {
                "adapter": "msrvtt",
                "sampling": "c4c",
                "protocol": "clip4clip-msrvtt-1ka",
                "options": {
                    "annotations": {"path": "MSRVTT_JSFUSION_test.csv"},
                    "videos": {"path": "videos"},
                },
            }
        },
        "samplings": {"c4c": {"method": "fps", "fps": 1, "num_frames": 12}},
        "models": {
            "clip": {"adapter": "clip", "path": str(clip)},
            "random": {"adapter": "random", "dim": 16},
        },
        "variants": {
            "float32": {"kind": "float32"},
            "dsl": {"kind": "float32", "scoring": "dual_softmax"},
        },
        "evaluation": {"split": "test", "ks": [1, 5, 10], "ndcg_k": 10, "bootstrap": 100},
        "anchors": [
            {
                "model": str(clip),
                "protocol": "clip4clip-msrvtt-1ka",
                "metric": "t2v R@1",
                "value": 20,
                "source": "a test's own",
            }
        ],
    }
    (work / "p.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = ["results/published/msrvtt/clip.json", "results/report.md"]
    snakemake([*targets, "--cores", "2", "--configfile", "p.yaml"], work)
    result = json.loads((work / "results/published/msrvtt/clip.json").read_text())
    metrics = json.loads((work / "results/metrics/msrvtt/clip/float32.json").read_text())
    assert result["protocol"] == "clip4clip-msrvtt-1ka" and result["deviations"] == []
    (row,) = result["variants"]["float32"]["anchors"]
    assert row["measured"] == pytest.approx(100 * metrics["t2v"]["R@1"])
    assert row["ci95"] == pytest.approx([100 * c for c in metrics["ci95"]["t2v"]["R@1"]])
    assert row["verdict"] == verdict(row["measured"], 20, row["ci95"])
    assert result["variants"]["dsl"]["deviations"] == [
        "post-processing: DSL on where the protocol ranks by plain cosine"
    ]
    report = (work / "results/report.md").read_text()
    section = report[report.index("## Against published numbers") :]
    assert "clip4clip-msrvtt-1ka" in section and "a test's own" in section
    assert "no published number for random" in report  # said, not left silent
    loaded = mteb.TaskResult.from_disk(work / "results/published/msrvtt/clip.mteb.json")
    assert loaded.get_score() == pytest.approx(metrics["t2v"]["R@1"])


def test_a_protocol_whose_main_score_the_run_does_not_compute_is_named():
    with pytest.raises(ConfigError, match="reports 't2v nDCG@10'.*evaluation.ndcg_k 5"):
        _config(**{"datasets.msrvtt.protocol": "mteb-msrvtt-t2v", "evaluation.ndcg_k": 5})


def test_instruction_and_hosted_data_deviations():
    metrics = {"n_videos": 10, "n_captions": 10}

    def deviations(protocol, dataset, model, sampling):
        config = _config()
        return run_deviations(
            get_protocol(protocol), "ds", dataset, sampling, model, config["evaluation"], metrics
        )

    msrvtt = _config()["datasets"]["msrvtt"]
    qwen = {"adapter": "qwen3_vl", "path": "Qwen/Qwen3-VL-Embedding-2B"}
    u64 = {"method": "uniform", "num_frames": 64}
    # the embedder's defaults are MMEB-V2's MSR-VTT instructions; the preset resolves to them
    assert deviations("mmeb-v2-msrvtt", msrvtt, qwen, u64) == []
    assert deviations("mmeb-v2-msrvtt", msrvtt, {**qwen, "text_instruction": "mmeb-v2"}, u64) == []
    (line,) = deviations(
        "mteb-msrvtt-t2v",
        {**msrvtt, "adapter": "hub", "options": {"preset": "mteb-msrvtt"}},
        qwen,
        u64,
    )
    assert line.startswith("instructions: text_instruction 'Find a video that contains")
    assert "'Find the video clip that matches the given caption.'" in line
    other = {
        "adapter": "hub",
        "options": {"preset": "mteb-msrvtt", "repo": "team/msrvtt", "revision": "a" * 40},
    }
    clip = {"adapter": "clip", "path": "openai/clip-vit-base-patch32"}
    assert deviations("mteb-msrvtt-t2v", other, clip, u64) == [
        "data: team/msrvtt@aaaaaaa where the protocol reads mteb/MSR-VTT@4661603"
    ]


def test_the_joint_map_puts_each_caption_with_its_own_video():
    from vidspace.analyses.explorer import _maps

    coordinates = {
        "video_ids": np.array(["v0", "v1", "v2"]),
        "joint_tsne": np.arange(10, dtype=float).reshape(5, 2),
        "joint_text_ids": np.array(["v0#0", "v2#0"]),
        "joint_text_videos": np.array([0, 2]),  # v1 has no caption
    }
    rows = {"v0": 0, "v1": 1, "v2": 2}
    maps = _maps(coordinates, {}, rows, {"v0#0": "zero", "v2#0": "two"})["maps"]["joint"]
    assert maps["caption_videos"] == [0, 2] and maps["captions"] == ["zero", "two"]
    assert maps["caption_x"] == [6.0, 8.0]

"""Variants, clustering, file contracts, config loading and the scripts' error handling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, tool_env

from vidspace.analyses.clustering import kmeans_against_categories
from vidspace.core.config import ConfigError, load_config, validate_config
from vidspace.core.io import atomic_path, save_embeddings, subset_videos, validate_embeddings
from vidspace.variants import TRANSDUCTIVE, apply_variant


def _arrays(n=40, d=16, m=80, seed=0):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, m)
    video = rng.normal(size=(n, d)).astype(np.float32)
    return {
        "video_emb": video,
        "text_emb": (video[index] + rng.normal(scale=0.5, size=(m, d))).astype(np.float32),
        "video_ids": np.array([f"v{i}" for i in range(n)]),
        "text_ids": np.array([f"t{i}" for i in range(m)]),
        "text_video_index": index,
        "split": np.array(["train", "test"] * (n // 2)),
    }


@pytest.mark.parametrize(
    "spec, bytes_per_vector, max_error",
    [
        ({"kind": "float32"}, 64, 0.0),
        ({"kind": "float16"}, 32, 1e-3),
        ({"kind": "int8"}, 16, 0.01),
        ({"kind": "int4"}, 8, 0.2),
    ],
)
def test_precision_variants(spec, bytes_per_vector, max_error):
    arrays = _arrays()
    out, meta = apply_variant(arrays, spec)
    unit = arrays["video_emb"] / np.linalg.norm(arrays["video_emb"], axis=1, keepdims=True)
    assert meta["bytes_per_vector"] == bytes_per_vector
    assert np.abs(out["video_emb"] - unit).max() <= max_error + 1e-7
    assert out["text_emb"].shape == arrays["text_emb"].shape


def test_int8_codes_are_integer_multiples_of_the_scale():
    out, _ = apply_variant(_arrays(), {"kind": "int8"})
    v = out["video_emb"]
    scale = np.abs(v).max(axis=0) / 127
    np.testing.assert_allclose(v / scale, np.round(v / scale), atol=1e-3)


def test_binary_variant():
    out, meta = apply_variant(_arrays(d=64), {"kind": "binary"})
    assert set(np.unique(out["video_emb"])) == {-1.0, 1.0}
    assert meta["bytes_per_vector"] == 8


def test_pca_fits_on_train_split_and_says_so():
    arrays = _arrays()
    out, meta = apply_variant(arrays, {"kind": "pca", "dim": 4}, split="test")
    assert out["video_emb"].shape == (40, 4) and out["text_emb"].shape == (80, 4)
    assert meta["fits"] == {"pca": "train"} and meta["bytes_per_vector"] == 16
    # the fit never sees the evaluated rows: changing them changes nothing on train rows
    moved = dict(arrays, video_emb=arrays["video_emb"].copy())
    moved["video_emb"][arrays["split"] == "test"] *= -3
    again, _ = apply_variant(moved, {"kind": "pca", "dim": 4}, split="test")
    train = arrays["split"] == "train"
    np.testing.assert_allclose(again["video_emb"][train], out["video_emb"][train], atol=1e-6)
    # evaluating every row (train included) or having no split: fitted on the evaluated set
    assert apply_variant(arrays, {"kind": "pca", "dim": 4}, "all")[1]["fits"] == {
        "pca": TRANSDUCTIVE
    }
    arrays.pop("split")
    assert apply_variant(arrays, {"kind": "pca", "dim": 4}, "test")[1]["fits"] == {
        "pca": TRANSDUCTIVE
    }
    with pytest.raises(ValueError, match="exceeds"):
        apply_variant(arrays, {"kind": "pca", "dim": 99})


def _textbook_int(x, fit, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(fit).max(axis=0) / qmax
    return np.clip(np.round(x / scale), -qmax, qmax) * scale


@pytest.mark.parametrize("kind, bits", [("int8", 8), ("int4", 4)])
def test_quantizers_calibrate_each_modality_on_its_own_train_rows(kind, bits):
    arrays = _arrays(n=60, m=120, d=8)
    # captions live on a larger scale in dimension 0 than the videos (a modality gap)
    arrays["text_emb"][:, 0] += 6.0
    out, meta = apply_variant(arrays, {"kind": kind}, split="test")
    assert meta["fits"] == {"scale": "train"} and meta["calibration"] == "per_modality"
    unit = {
        k: arrays[k] / np.linalg.norm(arrays[k], axis=1, keepdims=True)
        for k in ("video_emb", "text_emb")
    }
    train = arrays["split"] == "train"
    train_captions = train[arrays["text_video_index"]]
    for key, fit in (("video_emb", train), ("text_emb", train_captions)):
        oracle = _textbook_int(unit[key], unit[key][fit], bits)
        np.testing.assert_allclose(out[key], oracle, rtol=1e-5, atol=1e-6)
    # joint: one scale from both modalities' train rows
    joint, meta = apply_variant(arrays, {"kind": kind, "calibration": "joint"}, split="test")
    both = np.concatenate([unit["video_emb"][train], unit["text_emb"][train_captions]])
    np.testing.assert_allclose(
        joint["video_emb"], _textbook_int(unit["video_emb"], both, bits), rtol=1e-5, atol=1e-6
    )
    assert meta["calibration"] == "joint"
    with pytest.raises(ValueError, match="unknown calibration"):
        apply_variant(arrays, {"kind": kind, "calibration": "video"})


def test_retrieval_metrics_record_fits_and_transductive_parts(tmp_path):
    from vidspace.metrics import evaluate_file
    from vidspace.variants import transform

    arrays = _arrays(n=60, m=120)
    save_embeddings(tmp_path / "e.npz", arrays, {"model": "m", "align_fit_on": "train"})
    cases = {
        "pca": ({"kind": "pca", "dim": 4}, "test", {"pca": "train"}, []),
        "pca-all": ({"kind": "pca", "dim": 4}, "all", {"pca": TRANSDUCTIVE}, ["pca"]),
        "dsl": (
            {"kind": "float32", "scoring": "dual_softmax"},
            "test",
            {"dual softmax": TRANSDUCTIVE},
            ["dual softmax"],
        ),
        "qb": ({"kind": "float32", "scoring": "qb_norm"}, "test", {"querybank": "train"}, []),
        "qb-all": (
            {"kind": "float32", "scoring": "qb_norm"},
            "all",
            {"querybank": TRANSDUCTIVE},
            ["querybank"],
        ),
    }
    for name, (spec, split, fits, transductive) in cases.items():
        transform(tmp_path / "e.npz", tmp_path / f"{name}.npz", name, spec, split)
        r = evaluate_file(tmp_path / f"{name}.npz", tmp_path / f"{name}.json", split, (1,), 1)
        assert r["fits"] == {"model alignment": "train", **fits}
        assert r["transductive"] == transductive


def test_unknown_variant_kind():
    with pytest.raises(ValueError, match="unknown variant kind 'int3'"):
        apply_variant(_arrays(), {"kind": "int3"})


def test_clustering_perfect_and_degenerate():
    x = np.repeat(np.eye(3), 5, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(15, 3))
    labels = np.repeat(["a", "b", "c"], 5)
    scores = kmeans_against_categories(x, labels)
    assert scores["k"] == 3
    for key in ("ARI", "NMI", "AMI", "FMI"):
        assert scores[key] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 categories"):
        kmeans_against_categories(x, np.array(["a"] * 15))
    with pytest.raises(ValueError, match="labels"):
        kmeans_against_categories(x, labels[:3])


def test_subset_videos_remaps_caption_rows():
    arrays = _arrays(n=4, m=6)
    arrays["text_video_index"] = np.array([0, 1, 2, 3, 3, 1])
    sub = subset_videos(arrays, np.array([False, True, False, True]))
    assert sub["video_ids"].tolist() == ["v1", "v3"]
    assert sub["text_ids"].tolist() == ["t1", "t3", "t4", "t5"]
    assert sub["text_video_index"].tolist() == [0, 1, 1, 0]
    np.testing.assert_array_equal(sub["text_emb"], arrays["text_emb"][[1, 3, 4, 5]])


def test_contract_violations_are_named():
    arrays = _arrays()
    arrays["text_video_index"] = arrays["text_video_index"][:-1]
    with pytest.raises(ValueError, match="disagree"):
        validate_embeddings(arrays)
    arrays = _arrays()
    arrays["video_emb"][3, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf in 1 rows, e.g. \['v3'\]"):
        validate_embeddings(arrays)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        save_embeddings(target, {"video_emb": np.ones((2, 3)), "video_ids": ["a"]}, {})
    assert list(tmp_path.iterdir()) == []


def test_shipped_configs_validate():
    load_config(REPO / "config/demo.yaml")
    load_config(REPO / "config.yaml")
    full = yaml.safe_load((REPO / "config.yaml").read_text())
    full["models"]["qwen3-vl"]["adapter"] = "qwen3"
    with pytest.raises(ConfigError, match="models.qwen3-vl.adapter"):
        validate_config(full)


def test_config_cross_references():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["datasets"]["synthetic"]["sampling"] = "nope"
    with pytest.raises(ConfigError, match="datasets.synthetic.sampling names 'nope'"):
        validate_config(config)


def test_the_removed_short_side_key_is_named_with_what_replaced_it():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["samplings"]["uniform8"]["short_side"] = 224
    with pytest.raises(
        ConfigError, match="samplings.uniform8.short_side is no longer used.*max_side"
    ):
        validate_config(config)
    del config["samplings"]["uniform8"]["short_side"]
    config["samplings"]["uniform8"]["max_side"] = None  # never scale down
    validate_config(config)
    config["samplings"]["uniform8"]["max_side"] = 8
    with pytest.raises(ConfigError, match="samplings.uniform8.max_side"):
        validate_config(config)


@pytest.mark.parametrize("shards", [0, -2, 1.5, "4"])
def test_embed_shards_must_be_a_positive_integer(shards):
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["embed"]["shards"] = shards
    with pytest.raises(ConfigError, match="embed.shards"):
        validate_config(config)


def _retrieval_script(embeddings, out):
    return subprocess.run(
        [
            sys.executable,
            "scripts/retrieval.py",
            "--embeddings",
            str(embeddings),
            "--out",
            str(out),
            *"--split test --ks 1 5 --ndcg-k 10 --pool-sizes --bootstrap 0 --seed 0".split(),
            *"--device cpu".split(),
        ],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
    )


def test_script_reports_bad_input_in_one_line(tmp_path):
    proc = _retrieval_script(tmp_path / "no.npz", tmp_path / "m.json")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_missing_variant_sidecar_is_named_not_guessed(tmp_path):
    """Without its sidecar a dual-softmax variant would be scored as a dot product."""
    save_embeddings(tmp_path / "v.npz", _arrays(), {"scoring": "dual_softmax"})
    (tmp_path / "v.json").unlink()
    proc = _retrieval_script(tmp_path / "v.npz", tmp_path / "m.json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{tmp_path / 'v.json'}" in last and "missing" in last
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "error, user",
    [("ValueError('bad k')", True), ("KeyError('k')", False), ("RuntimeError('x')", False)],
)
def test_user_errors_end_in_one_line_and_bugs_keep_their_traceback(error, user):
    code = f"from vidspace.core.cli import run\ndef main():\n    raise {error}\nrun(main)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=tool_env(), capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert ("Traceback" in proc.stderr) is not user
    if user:
        assert proc.stderr.strip().splitlines() == ["error: bad k"]


def test_scripts_have_help():
    for script in sorted((REPO / "scripts").glob("*.py")):
        proc = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=REPO,
            env=tool_env(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, script
        assert "usage:" in proc.stdout


@pytest.mark.parametrize(
    "spec, dim, bytes_per_vector",
    [
        ({"kind": "faiss_sq8"}, 16, 16),
        ({"kind": "faiss_sq4"}, 16, 8),
        ({"kind": "faiss_pq", "m": 4, "nbits": 4}, 16, 2),
        ({"kind": "random_projection", "dim": 8}, 8, 32),
        ({"kind": "prefix", "dim": 8}, 8, 32),
        ({"kind": "pca", "dim": 8, "whiten": True}, 8, 32),
    ],
)
def test_more_variants(spec, dim, bytes_per_vector):
    arrays = _arrays(n=60, m=120)
    out, meta = apply_variant(arrays, spec)
    assert out["video_emb"].shape == (60, dim) and out["text_emb"].shape == (120, dim)
    assert meta["bytes_per_vector"] == bytes_per_vector
    assert np.all(np.isfinite(out["video_emb"]))


def test_faiss_sq8_is_close_and_prefix_is_exact():
    arrays = _arrays()
    unit = arrays["video_emb"] / np.linalg.norm(arrays["video_emb"], axis=1, keepdims=True)
    sq8, meta = apply_variant(arrays, {"kind": "faiss_sq8"})
    assert meta["fits"] == {"codec": TRANSDUCTIVE}
    assert np.abs(sq8["video_emb"] - unit).max() < 0.01
    prefix, _ = apply_variant(arrays, {"kind": "prefix", "dim": 5})
    np.testing.assert_array_equal(prefix["video_emb"], unit[:, :5])


def test_whitening_gives_identity_covariance_on_the_fit_rows():
    arrays = _arrays(n=200, m=10)
    spec = {"kind": "random_projection", "dim": 6, "whiten": True}
    out, meta = apply_variant(arrays, spec, split="test")
    train = out["video_emb"][arrays["split"] == "train"]
    np.testing.assert_allclose(np.cov(train, rowvar=False, bias=True), np.eye(6), atol=1e-4)
    assert meta["fits"] == {"whitening": "train"}
    with pytest.raises(ValueError, match="whiten applies to dimension variants"):
        apply_variant(arrays, {"kind": "int8", "whiten": True})


def test_product_quantizer_needs_enough_training_vectors():
    with pytest.raises(ValueError, match="training vectors"):
        apply_variant(_arrays(n=20, m=20), {"kind": "faiss_pq", "m": 4, "nbits": 8})


def test_retrieval_stage_file_outputs(tmp_path):
    from vidspace.metrics import compare_models, evaluate_file

    arrays = _arrays(n=60, m=120)
    for name, noise in (("good", 0.3), ("bad", 3.0)):
        a = dict(arrays)
        rng = np.random.default_rng(1)
        a["text_emb"] = (
            a["video_emb"][a["text_video_index"]]
            + rng.normal(scale=noise, size=a["text_emb"].shape)
        ).astype(np.float32)
        save_embeddings(tmp_path / f"{name}.npz", a, {"variant": "float32", "bytes_per_vector": 64})
        r = evaluate_file(
            tmp_path / f"{name}.npz",
            tmp_path / f"{name}.json",
            "test",
            (1, 5),
            5,
            pool_sizes=(10, 500),
            bootstrap=200,
            ranks_path=tmp_path / f"{name}.ranks.npz",
        )
        assert r["n_videos"] == 30
        assert r["ci95"]["t2v"]["R@1"][0] <= r["t2v"]["R@1"] <= r["ci95"]["t2v"]["R@1"][1]
        assert list(r["pools"]) == ["10"]  # 500 exceeds the gallery and is skipped
    comparison = compare_models(
        {"good": tmp_path / "good.ranks.npz", "bad": tmp_path / "bad.ranks.npz"},
        tmp_path / "c.json",
        (1,),
        n_boot=500,
    )
    pair = comparison["pairs"][0]
    assert (pair["a"], pair["b"]) == ("good", "bad")
    assert pair["t2v"]["R@1"]["diff"] > 0.2 and pair["t2v"]["R@1"]["p_value"] < 0.01


def test_querybank_scoring_needs_a_train_split(tmp_path):
    from vidspace.metrics import evaluate_file

    arrays = _arrays()
    arrays["split"] = np.array(["test"] * 40)
    save_embeddings(tmp_path / "e.npz", arrays, {"scoring": "qb_norm"})
    with pytest.raises(ValueError, match="needs a train split"):
        evaluate_file(tmp_path / "e.npz", tmp_path / "m.json", "test", (1,), 1)


def test_report_table_keeps_odd_reasons_in_one_row():
    from vidspace.report.markdown import table as markdown_table

    table = markdown_table(["id", "reason"], [["v1", "HTTP 500 | retry\nthen gave up"]])
    assert table.splitlines()[-1] == "| v1 | HTTP 500 \\| retry then gave up |"


def test_config_validation_imports_no_deep_learning_framework():
    """It runs on every `snakemake -n`: torch alone takes seconds to import under load."""
    code = (
        "import sys\n"
        "from vidspace.core.config import load_config\n"
        "load_config('config.yaml')\n"
        "load_config('config/demo.yaml')\n"
        "print(sorted(m for m in ('torch', 'transformers', 'av', 'yt_dlp') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=tool_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_readme_links_stay_inside_the_repository():
    import re

    text = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)", text)
    assert links, "the README names its documents"
    for link in links:
        assert not link.startswith(("/", "..")) and "://" not in link, link
        assert (REPO / link).exists(), link


@pytest.mark.parametrize(
    "value, match",
    [
        ({"msrvt": "Find it."}, "not configured: \\['msrvt'\\]"),
        ({"msrvtt": "Find it."}, "no instruction for datasets \\['vatex', 'youcook2'\\]"),
    ],
)
def test_instruction_mapping_names_configured_datasets(value, match):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"]["qwen3-vl"]["text_instruction"] = value
    with pytest.raises(ConfigError, match=match):
        validate_config(config)


def test_instruction_preset_needs_an_entry_for_every_adapter():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["models"]["random"]["text_instruction"] = "mmeb-v2"
    with pytest.raises(ConfigError, match="not for \\{'synthetic': 'synthetic'\\}"):
        validate_config(config)


def test_instructions_resolve_per_dataset():
    from vidspace.models.instructions import MMEB_V2, for_dataset

    spec = {"adapter": "qwen3_vl", "text_instruction": "mmeb-v2"}
    assert for_dataset(spec, "yc2", "youcook2")["text_instruction"] == MMEB_V2["youcook2"]
    mapping = {"adapter": "qwen3_vl", "text_instruction": {"mine": "Find it.", "default": "Any."}}
    assert for_dataset(mapping, "mine", "csv")["text_instruction"] == "Find it."
    assert for_dataset(mapping, "other", "csv")["text_instruction"] == "Any."
    assert for_dataset({"adapter": "clip"}, "x", "csv") == {"adapter": "clip"}

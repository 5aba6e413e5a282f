"""Benchmark protocols and the published numbers measured under them.

A protocol names everything a published number depends on: the data (which adapter and
options give its clips and captions, and how our copy differs from the one it used), the
evaluated split, captions per video, the directions, the metrics and the main score,
frames per model family where its code prescribes them, instructions, and the
post-processing (dual softmax off unless it says otherwise). A dataset selects one with
``protocol: <name>``; a run is then checked against it and every difference is named
(:func:`deviations`). Anchors (``anchors.yaml`` beside this file, and ``anchors:`` in
the config) are published numbers under a protocol, each with its source.

Torch-free: the config check and the workflow read it when they parse the config.
Definitions: docs/definitions.md ("Protocols and published numbers").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

DIRECTIONS = ("t2v", "v2t")
# metric names as anchors give them -> the key in a metrics JSON direction block, and
# whether it is a percentage there kept as a fraction (R@K, nDCG) or a rank (MdR, MnR)
METRIC = re.compile(r"^(t2v|v2t) (R@(\d+)|MdR|MnR|nDCG@(\d+))$")
ONE_K_A = ("1k-A", "train-9k+1k-A", "train-7k+1k-A")


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    code: str  # the code (repository and files) or paper it follows
    data: Mapping[str, Mapping]  # adapter -> {option: allowed values} the data needs
    split: str  # evaluation.split
    captions_per_video: int | None
    directions: tuple[str, ...]
    metrics: tuple[str, ...]  # "t2v R@1", ...
    main: str
    frames: Mapping[str, Mapping] = field(default_factory=dict)  # model adapter or "*"
    instructions: Mapping[str, Mapping] = field(default_factory=dict)  # model adapter
    scoring: str = "dot"
    hosted: Mapping[str, str] = field(default_factory=dict)  # adapter -> how ours differs
    mteb_task: str | None = None
    dataset_repo: str | None = None  # the hosted copy the protocol reads, at this revision
    dataset_revision: str | None = None


def _recall(direction: str) -> tuple[str, ...]:
    return tuple(f"{direction} {m}" for m in ("R@1", "R@5", "R@10", "MdR", "MnR"))


CLIP4CLIP_FRAMES = {"*": {"method": "fps", "fps": 1, "num_frames": 12}}
MSRVTT_1KA = {"msrvtt": {"split": ONE_K_A, "captions": ("first",)}}

_PROTOCOLS = [
    Protocol(
        name="clip4clip-msrvtt-1ka",
        title="MSR-VTT 1k-A (CLIP4Clip)",
        code=(
            "ArrowLuo/CLIP4Clip: dataloaders/dataloader_msrvtt_retrieval.py (the JSFusion "
            "test CSV, one caption per clip), metrics.py (compute_metrics on the 1,000 x "
            "1,000 matrix and its transpose), README (--max_frames 12 --feature_framerate 1 "
            "--slice_framepos 2)"
        ),
        data=MSRVTT_1KA,
        split="test",
        captions_per_video=1,
        directions=DIRECTIONS,
        metrics=_recall("t2v") + _recall("v2t"),
        main="t2v R@1",
        frames=CLIP4CLIP_FRAMES,
    ),
    Protocol(
        name="msrvtt-full",
        title="MSR-VTT full test (2,990 clips x 20 captions)",
        code=(
            "Xu et al. 2016 (the MSR-VTT split: 6,513 train, 497 val, 2,990 test clips, 20 "
            "captions each); evaluated as CLIP4Clip's metrics.py, every caption a query"
        ),
        data={"msrvtt": {"split": ("full", "train-7k+full"), "captions": ("all",)}},
        split="test",
        captions_per_video=20,
        directions=DIRECTIONS,
        metrics=_recall("t2v") + _recall("v2t"),
        main="t2v R@1",
    ),
]

# MMEB-V2 video retrieval, as TIGER-AI-Lab/VLM2Vec (experiments/public/eval/video.yaml,
# src/data/eval_dataset/*) and QwenLM/Qwen3-VL-Embedding (scripts/evaluation/mmeb_v2) run
# it: text->video hit@1 against every test video of the set, the first caption per video
MMEB_V2 = {
    "msrvtt": (
        "MSR-VTT",
        "Find a video that contains the following visual content",
        MSRVTT_1KA,
        {},
    ),
    "msvd": ("MSVD", "Find the video snippet that corresponds to the given summary", {}, {}),
    "didemo": ("DiDeMo", "Find a video that includes the following described scenes", {}, {}),
    "vatex": (
        "VATEX",
        "Select a video that fits the description provided",
        {"vatex": {"captions": ("first",)}},
        {
            "vatex": "our YouTube download of the validation clips, where MMEB-V2 evaluates "
            "the hosted VLM2Vec/VATEX test set (4,478 queries)"
        },
    ),
    "youcook2": (
        "YouCook2",
        "Find a video that demonstrates the following action while making a recipe",
        {"youcook2": {"subset": ("validation",)}},
        {
            "youcook2": "our YouTube download of the validation segments, where MMEB-V2 "
            "evaluates the hosted lmms-lab/YouCook2 val set (3,179 queries)"
        },
    ),
}
# MMEB-V2's hosted sets (src/constant/dataset_hf_path.py and the parsers of
# src/data/eval_dataset/ in both harnesses): annotation repository, subset, split, the
# columns each parser reads (no id column: the video file's name, as DiDeMo's parser
# takes it), and the set's folder in the frames archive. Neither harness pins a revision.
MMEB_V2_HOSTED = {
    "msrvtt": (
        "VLM2Vec/MSR-VTT",
        "test_1k",
        "test",
        {"id": "video_id", "video": "video", "caption": "caption"},
        "MSR-VTT",
    ),
    "msvd": (
        "VLM2Vec/MSVD",
        None,
        "test",
        {"id": "video_id", "video": "video", "caption": "caption"},
        "MSVD",
    ),
    "didemo": ("VLM2Vec/DiDeMo", None, "test", {"video": "video", "caption": "caption"}, "DiDeMo"),
    "youcook2": (
        "lmms-lab/YouCook2",
        None,
        "val",
        {"id": "id", "video": "video_path", "caption": "sentence"},
        "YouCook2",
    ),
    "vatex": (
        "VLM2Vec/VATEX",
        None,
        "test",
        {"id": "videoID", "video": "", "caption": "enCap"},
        "VATEX",
    ),
}
# the frames of all five sets: one archive (7.8 GB) of TIGER-Lab/MMEB-V2, 64 frames a video
MMEB_V2_FRAMES = ("TIGER-Lab/MMEB-V2", "video-tasks/frames/video_ret.tar.gz")
for key, (title, query, data, hosted) in MMEB_V2.items():
    _PROTOCOLS.append(
        Protocol(
            name=f"mmeb-v2-{key}",
            title=f"MMEB-V2 video retrieval: {title}",
            code=(
                "TIGER-AI-Lab/VLM2Vec experiments/public/eval/video.yaml (8 of 64 saved "
                "frames, eval_type global, hit@1); QwenLM/Qwen3-VL-Embedding "
                "scripts/evaluation/mmeb_v2 (64 frames, instruction in the system turn, "
                "none on the videos)"
            ),
            # the hub adapter's preset reads MMEB-V2's own copy: no data deviation
            data={**data, "hub": {"preset": (f"mmeb-v2-{key}",)}},
            split="test",
            captions_per_video=1,
            directions=("t2v",),
            metrics=("t2v R@1", "t2v R@5", "t2v R@10"),
            main="t2v R@1",
            frames={
                "qwen3_vl": {"method": "uniform", "num_frames": 64},
                "*": {"method": "uniform", "num_frames": 8},
            },
            instructions={
                "qwen3_vl": {
                    "text_instruction": query + ".",
                    "video_instruction": "Represent the user's input.",
                }
            },
            hosted=hosted,
            dataset_repo=MMEB_V2_HOSTED[key][0],
        )
    )

# MTEB's hosted copies of its video retrieval sets: repository, pinned revision and the
# caption column (one row per clip with one caption); the hub adapter's presets too
MTEB_HOSTED = {
    "msrvtt": ("mteb/MSR-VTT", "4661603cee25c1fd370e5478a2953203cf37155b", "caption"),
    "vatex": ("mteb/VATEX_test_1k", "0d2e86e6d36927f4676ee6127c4e38e3867ce0ce", "caption"),
    "youcook2": ("mteb/YouCook2_val", "be654b591daef1382364d563f6d3d66f61f79b35", "sentence"),
    "didemo": ("mteb/DiDeMo", "746689f644b66022540a9a39136e842bee164e6b", "caption"),
    "activitynet": (
        "mteb/ActivityNet_Captions_val2",
        "e87473c4832ea982bbeca1dde94bbebfa6ea6ada",
        "caption",
    ),
    "msvd": ("mteb/MSVD", "177cefe5957363d1617f0427fcfa00ff0b0d7da8", "caption"),
}
# MTEB's video retrieval tasks (embeddings-benchmark/mteb, mteb/tasks/retrieval/eng/),
# main score nDCG@10: set -> (task names by direction, our own adapter's data the task
# also describes, how that download differs from MTEB's copy); the others are hosted only
MTEB = {
    "msrvtt": (
        ("MSRVTTT2V", "MSRVTTV2T"),
        MSRVTT_1KA,
        "the 1,000 1k-A clips, where MTEB's mteb/MSR-VTT holds 879 of them",
    ),
    "vatex": (
        ("VATEXT2VRetrieval", "VATEXV2TRetrieval"),
        {"vatex": {"captions": ("first",)}},
        "our YouTube download of the validation clips, where MTEB's mteb/VATEX_test_1k "
        "holds 1,000 test clips",
    ),
    "youcook2": (
        ("YouCook2T2VRetrieval", "YouCook2V2TRetrieval"),
        {"youcook2": {"subset": ("validation",)}},
        "our YouTube download of the validation segments, where MTEB's mteb/YouCook2_val "
        "holds 3,104 of them",
    ),
    "didemo": (("DiDeMoT2VRetrieval", "DiDeMoV2TRetrieval"), {}, ""),
    "activitynet": (
        ("ActivityNetCaptionsT2VRetrieval", "ActivityNetCaptionsV2TRetrieval"),
        {},
        "",
    ),
    "msvd": (("MSVDT2VRetrieval", "MSVDV2TRetrieval"), {}, ""),
}
PROMPTS = {
    "t2v": "Find the video clip that matches the given caption.",
    "v2t": "Find the caption that describes the following video.",
}
for key, (tasks, data, hosted) in MTEB.items():
    repo, revision, _ = MTEB_HOSTED[key]
    # the hub adapter's preset is MTEB's own copy: no data deviation
    own = {a: hosted for a in data}  # our own download of the set: how it differs
    data = {**data, "hub": {"preset": (f"mteb-{key}",)}}
    for direction, task in zip(DIRECTIONS, tasks, strict=True):
        _PROTOCOLS.append(
            Protocol(
                name=f"mteb-{key}-{direction}",
                title=f"MTEB {task} ({repo}@{revision[:7]})",
                code=f"embeddings-benchmark/mteb mteb/tasks/retrieval/eng/ ({task})",
                data=data,
                split="test",
                captions_per_video=1,
                directions=(direction,),
                metrics=(f"{direction} nDCG@10", f"{direction} R@1", f"{direction} R@10"),
                main=f"{direction} nDCG@10",
                frames={"xclip": {"method": "uniform", "num_frames": 8}},
                # the task's prompt goes to its queries: captions (t2v) or videos (v2t)
                instructions={
                    "qwen3_vl": {
                        ("text_instruction" if direction == "t2v" else "video_instruction"): (
                            PROMPTS[direction]
                        )
                    }
                },
                hosted=own,
                mteb_task=task,
                dataset_repo=repo,
                dataset_revision=revision,
            )
        )

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in _PROTOCOLS}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def check_dataset(protocol: Protocol, adapter: str) -> None:
    """ValueError when ``protocol`` does not describe data of ``adapter``."""
    if adapter not in protocol.data:
        raise ValueError(
            f"protocol {protocol.name!r} describes data of the adapters "
            f"{sorted(protocol.data)}, not {adapter!r}"
        )


def parse_metric(metric: str) -> tuple[str, str, bool]:
    """(direction, key in the metrics JSON, a percentage?) of an anchor's metric name."""
    found = METRIC.match(str(metric))
    if not found:
        raise ValueError(f"metric {metric!r}: use '<t2v|v2t> <R@K|MdR|MnR|nDCG@K>', e.g. 't2v R@1'")
    direction, name = found.group(1), found.group(2)
    if name == "MdR":
        return direction, "MedR", False
    if name == "MnR":
        return direction, "MeanR", False
    if name.startswith("nDCG"):
        return direction, f"NDCG@{found.group(4)}", True
    return direction, name, True


def computed(metric: str, evaluation: Mapping) -> bool:
    """Whether a run with ``evaluation`` (ks, ndcg_k) computes ``metric``."""
    _, key, _ = parse_metric(metric)
    if key.startswith("R@"):
        return int(key[2:]) in evaluation["ks"]
    if key.startswith("NDCG@"):
        return int(key[5:]) == evaluation["ndcg_k"]
    return True


ANCHOR_KEYS = ("model", "protocol", "metric", "value", "source")


def check_anchor(anchor: Mapping, where: str) -> dict:
    """An anchor with every key, a known protocol whose metrics include its metric, and a
    source; ValueError naming ``where`` and the key otherwise."""
    if not isinstance(anchor, Mapping):
        raise ValueError(f"{where}: an anchor is a mapping with {list(ANCHOR_KEYS)}")
    for key in ANCHOR_KEYS:
        if anchor.get(key) in (None, ""):
            why = " (an arXiv id, a model card or the URL of the maintainers' words)"
            raise ValueError(
                f"{where}.{key}: missing{why if key == 'source' else ''}; an anchor needs "
                f"{list(ANCHOR_KEYS)}"
            )
    unknown = set(anchor) - {*ANCHOR_KEYS, "revision", "note"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        protocol = get_protocol(anchor["protocol"])
        parse_metric(anchor["metric"])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if anchor["metric"] not in protocol.metrics:
        raise ValueError(
            f"{where}.metric: {anchor['metric']!r} is not a metric of protocol "
            f"{protocol.name!r} ({list(protocol.metrics)})"
        )
    if not isinstance(anchor["value"], int | float):
        raise ValueError(f"{where}.value: a number, got {anchor['value']!r}")
    return dict(anchor)


def published() -> list[dict]:
    """The versioned anchors table (``anchors.yaml``), each entry checked."""
    text = resources.files(__name__).joinpath("anchors.yaml").read_text("utf-8")
    table = yaml.safe_load(text) or []
    return [check_anchor(a, f"anchors.yaml[{i}]") for i, a in enumerate(table)]


def anchors_from_mteb(path: str | Path, model: str | None = None) -> list[dict]:
    """Anchors from an MTEB results JSON (a ``TaskResult`` file, in MTEB's layout
    ``{org}__{name}/{revision}/{Task}.json``): its test split's main score (and R@1) under
    the protocol of its task, as percentages. ``model``: the hub id (default: the
    ``model_meta.json`` beside it, else the folder's name)."""
    path = Path(path)
    result = json.loads(path.read_text("utf-8"))
    if model is None:
        meta = path.parent / "model_meta.json"
        model = (
            json.loads(meta.read_text("utf-8"))["name"]
            if meta.exists()
            else path.parent.parent.name.replace("__", "/")
        )
    protocols = PROTOCOLS
    task = result.get("task_name")
    matching = [p for p in protocols.values() if p.mteb_task == task]
    if not matching:
        known = sorted(p.mteb_task for p in protocols.values() if p.mteb_task)
        raise ValueError(f"{path}: task {task!r} is none of the protocols' MTEB tasks {known}")
    protocol = matching[0]
    direction = protocol.directions[0]
    scores = next(iter(result["scores"].get("test", [])), None)
    if scores is None:
        raise ValueError(f"{path}: no scores for the test split")
    revision = Path(path).parent.name
    out = []
    for metric, key in ((protocol.main, "main_score"), (f"{direction} R@1", "recall_at_1")):
        if key in scores:
            out.append(
                {
                    "model": model,
                    "revision": revision,
                    "protocol": protocol.name,
                    "metric": metric,
                    "value": round(100 * float(scores[key]), 3),
                    "source": str(path),
                }
            )
    return out

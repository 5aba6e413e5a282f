"""Per-dataset query instructions for instruction-following embedders (Qwen3-VL-Embedding).

``text_instruction`` in a model's config is one instruction, a mapping from dataset name
(or ``default``) to instruction, or the preset ``mmeb-v2``: the instructions of the
model's published MMEB-V2 evaluation, chosen by the dataset's adapter. Torch-free: the
workflow resolves it for each embed job.
"""

from __future__ import annotations

from collections.abc import Mapping

from vidspace.protocols import PROTOCOLS

# Qwen3-VL-Embedding's MMEB-V2 video retrieval instructions (as its protocols give them),
# by set
MMEB_V2 = {
    name.removeprefix("mmeb-v2-"): p.instructions["qwen3_vl"]["text_instruction"]
    for name, p in PROTOCOLS.items()
    if name.startswith("mmeb-v2-")
}
PRESETS = {"mmeb-v2": MMEB_V2}


def data_set(adapter: str, options: Mapping | None = None) -> str:
    """The set a dataset holds, as presets key it: its adapter, or for the hub adapter its
    preset's set (``mteb-vatex``, ``mmeb-v2-vatex`` -> ``vatex``)."""
    preset = str((options or {}).get("preset", ""))
    if adapter == "hub" and preset.startswith(("mteb-", "mmeb-v2-")):
        return preset.removeprefix("mmeb-v2-").removeprefix("mteb-")
    return adapter


def check_instructions(value, datasets: Mapping[str, Mapping]) -> None:
    """ValueError naming the problem when ``value`` cannot give every dataset an
    instruction (an unknown dataset key, a preset without an entry for an adapter)."""
    if isinstance(value, str) and value in PRESETS:
        missing = {
            n: data_set(d["adapter"], d.get("options"))
            for n, d in datasets.items()
            if data_set(d["adapter"], d.get("options")) not in PRESETS[value]
        }
        if missing:
            raise ValueError(
                f"preset {value!r} has instructions for the sets {sorted(PRESETS[value])}, "
                f"not for {missing}; give a mapping with those datasets or 'default'"
            )
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(datasets) - {"default"})
        if unknown:
            raise ValueError(
                f"instructions for datasets that are not configured: {unknown} "
                f"(datasets: {sorted(datasets)})"
            )
        uncovered = sorted(set(datasets) - set(value))
        if uncovered and "default" not in value:
            raise ValueError(f"no instruction for datasets {uncovered} and no 'default'")


def for_dataset(spec: Mapping, dataset: str, adapter: str, options: Mapping | None = None) -> dict:
    """The model spec with ``text_instruction`` resolved to one string for ``dataset``
    (its adapter and options say which set a preset's instruction is for)."""
    spec = dict(spec)
    value = spec.get("text_instruction")
    if isinstance(value, str) and value in PRESETS:
        spec["text_instruction"] = PRESETS[value][data_set(adapter, options)]
    elif isinstance(value, Mapping):
        spec["text_instruction"] = value.get(dataset, value.get("default"))
    return spec

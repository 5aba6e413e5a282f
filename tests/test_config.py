"""Configuration: the shipped configs validate, errors name the key, instructions resolve
per dataset, the reference in docs/ is current, and the README links stay inside."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import REPO, tool_env

from vidspace.core.config import ConfigError, load_config, validate_config


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


def test_a_dataset_names_only_configured_models():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["datasets"]["synthetic"]["models"] = ["random", "xclip"]
    with pytest.raises(ConfigError, match=r"datasets.synthetic.models names \['xclip'\]"):
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
    config["embed"] = {"shards": shards}
    with pytest.raises(ConfigError, match="embed.shards"):
        validate_config(config)


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


def test_the_configuration_reference_is_current():
    """docs/configuration.md is generated from the schema: a key added, removed or
    described otherwise without regenerating it fails here."""
    from vidspace.core.config import reference

    current = (REPO / "docs" / "configuration.md").read_text()
    assert current == reference(), "run: python scripts/config_reference.py"
    for key in ("samplings.<name>.max_side", "variants.<name>.rescore", "clustering.dec"):
        assert f"`{key}`" in current


def test_schema_defaults_agree_with_the_stage_functions():
    """The schema holds the defaults the workflow fills in; the functions behind the stages
    keep defaults of their own for callers outside the workflow. They must agree."""
    import inspect

    from vidspace.core.config import defaults_for
    from vidspace.datasets.synthetic import generate
    from vidspace.frames import sample_frames

    def signature_defaults(fn, names):
        params = inspect.signature(fn).parameters
        return {n: params[n].default for n in names}

    synthetic = defaults_for("dataset", {"adapter": "synthetic", "options": {}})["options"]
    assert synthetic == signature_defaults(generate, synthetic)
    sampling = defaults_for("sampling", {"method": "uniform", "num_frames": 8})
    assert sampling == signature_defaults(sample_frames, sampling)
    variant = defaults_for("variant", {"kind": "float32", "scoring": "multi_grained"})
    from vidspace.metrics.scoring import MultiGrained

    fields = MultiGrained.__dataclass_fields__
    assert {k: variant[k] for k in ("aggregation", "top_k", "temperature")} == {
        k: fields[k].default for k in ("aggregation", "top_k", "temperature")
    }


def test_schema_model_defaults_agree_with_the_encoders():
    """The reference models' defaults in the schema are the encoders' own (checkpoint
    models take theirs from the checkpoint and are given none)."""
    import inspect

    from vidspace.core.config import defaults_for
    from vidspace.models.aligned import Alignment
    from vidspace.models.baselines import DescriptorEncoder, RandomEncoder
    from vidspace.models.hf_text import HFTextEncoder

    for adapter, constructor in (
        ("random", RandomEncoder),
        ("descriptor", DescriptorEncoder),
        ("hf_text", HFTextEncoder),
        ("aligned", Alignment),
    ):
        filled = defaults_for("model", {"adapter": adapter})
        filled.pop("adapter")
        params = inspect.signature(constructor).parameters
        assert filled and filled == {k: params[k].default for k in filled}, adapter

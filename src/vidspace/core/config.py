"""Load and validate a workflow configuration: one clear message that names the key."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def load_schema(path: str | Path | None = None) -> dict:
    path = Path(path) if path else SCHEMA_PATH
    return yaml.safe_load(path.read_text())


def fill_defaults(config: dict, schema: Mapping) -> dict:
    """Set every absent key that has a ``default:`` in the schema, in place (nested objects
    too, a defaulted object first). The schema is the one place a default is written."""
    for key, sub in (schema.get("properties") or {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict):
            fill_defaults(config[key], sub)
    return config


def validate_config(
    config: dict, schema_path: str | Path | None = None, check_adapters: bool = True
) -> None:
    """Raise ConfigError if ``config`` breaks the schema or refers to unknown names; then
    fill in the schema's defaults (in place), so every reader sees the same values."""
    for name, sampling in (config.get("samplings") or {}).items():
        if isinstance(sampling, Mapping) and "short_side" in sampling:
            raise ConfigError(
                f"config error: samplings.{name}.short_side is no longer used: frames are "
                "stored at their decoded size (scaled down only above max_side, default "
                "1280) and each model's processor resizes and crops them as its model card "
                "prescribes; delete the key"
            )
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        # 'if/then' failures nest the useful message one level down
        while err.context:
            err = jsonschema.exceptions.best_match(err.context)
        where = _dotted(err.absolute_path)
        if err.validator == "additionalProperties":
            msg = f"unknown key in '{where}': {err.message}"
        elif err.validator == "required":
            msg = f"missing key in '{where}': {err.message}"
        else:
            msg = f"bad value at '{where}': {err.message}"
        more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(f"config error: {msg}{more}")
    fill_defaults(config, schema)
    for name, ds in config["datasets"].items():
        if ds["sampling"] not in config["samplings"]:
            raise ConfigError(
                f"config error: datasets.{name}.sampling names {ds['sampling']!r}, which is "
                f"not under 'samplings' ({sorted(config['samplings'])})"
            )
    ref = config["report"].get("reference_variant")
    if ref is not None and ref not in config["variants"]:
        raise ConfigError(
            f"config error: report.reference_variant {ref!r} is not under 'variants' "
            f"({sorted(config['variants'])})"
        )
    if check_adapters:
        _check_adapters(config)


def _check_adapters(config: Mapping) -> None:
    from vidspace.datasets import get_adapter
    from vidspace.models import check_adapter

    def models_of(spec):
        yield spec["adapter"]
        for part in ("video", "text"):
            if part in spec:
                yield from models_of(spec[part])

    checks = [
        (f"datasets.{n}", lambda ds=ds: get_adapter(ds["adapter"]))
        for n, ds in config["datasets"].items()
    ]
    for name, spec in config["models"].items():
        if spec["adapter"] == "aligned" and not ("video" in spec and "text" in spec):
            raise ConfigError(
                f"config error in 'models.{name}': an 'aligned' model needs both 'video' and "
                "'text' encoders"
            )
        checks += [(f"models.{name}", lambda a=a: check_adapter(a)) for a in models_of(spec)]
    from vidspace.models.instructions import check_instructions

    for name, spec in config["models"].items():
        if "text_instruction" in spec:
            checks.append(
                (
                    f"models.{name}.text_instruction",
                    lambda v=spec["text_instruction"]: check_instructions(v, config["datasets"]),
                )
            )
    for where, check in checks:
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"config error in '{where}': {exc}") from None


def load_config(path: str | Path, check_adapters: bool = True) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    if not isinstance(config, dict):
        raise ConfigError(f"config error: {path} does not hold a mapping")
    validate_config(config, check_adapters=check_adapters)
    return config


def reference_variant(config: Mapping) -> str:
    return config["report"].get("reference_variant") or next(iter(config["variants"]))

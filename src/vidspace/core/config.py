"""Load and validate a workflow configuration: one clear message that names the key."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from functools import cache
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


def fill_defaults(config: dict, schema: Mapping, defs: Mapping | None = None) -> dict:
    """Set every absent key that has a ``default:`` in the schema, in place: nested
    objects, every entry of a mapping (``additionalProperties``: each dataset, sampling,
    model, variant), ``$ref``'d definitions, and the defaults of an ``allOf`` branch whose
    ``if`` the entry satisfies (a variant's kind, its scoring). The schema is the one place
    a default is written."""
    defs = schema.get("$defs", {}) if defs is None else defs
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        schema = defs[ref.rsplit("/", 1)[1]]
    for key, sub in (schema.get("properties") or {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict):
            fill_defaults(config[key], sub, defs)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        declared = set(schema.get("properties") or {})
        for key, value in config.items():
            if key not in declared and isinstance(value, dict):
                fill_defaults(value, extra, defs)
    for branch in schema.get("allOf", []):
        condition = branch.get("if")
        if condition is not None and jsonschema.Draft202012Validator(condition).is_valid(config):
            fill_defaults(config, branch.get("then", {}), defs)
    return config


@cache
def _definition(name: str) -> dict:
    schema = load_schema()
    return {**schema["$defs"][name], "$defs": schema["$defs"]}


def defaults_for(definition: str, spec: Mapping) -> dict:
    """A copy of ``spec`` (an entry such as a variant or a sampling) with the defaults of
    its schema definition filled in: what the workflow's validation gives the stages, for
    specs built in code (the dimensions analysis' variants, an API call)."""
    schema = _definition(definition)
    return fill_defaults(copy.deepcopy(dict(spec)), schema, schema["$defs"])


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
    _apply_protocols(config)
    fill_defaults(config, schema)
    for name, ds in config["datasets"].items():
        if ds["sampling"] not in config["samplings"]:
            raise ConfigError(
                f"config error: datasets.{name}.sampling names {ds['sampling']!r}, which is "
                f"not under 'samplings' ({sorted(config['samplings'])})"
            )
        unknown = [m for m in ds.get("models", []) if m not in config["models"]]
        if unknown:
            raise ConfigError(
                f"config error: datasets.{name}.models names {unknown}, not under 'models' "
                f"({sorted(config['models'])})"
            )
    ref = config["report"].get("reference_variant")
    if ref is not None and ref not in config["variants"]:
        raise ConfigError(
            f"config error: report.reference_variant {ref!r} is not under 'variants' "
            f"({sorted(config['variants'])})"
        )
    _check_anchors(config)
    if check_adapters:
        _check_adapters(config)


def _apply_protocols(config: dict) -> None:
    """A dataset's ``protocol``: known, describing the dataset's adapter, and giving the
    adapter options it fixes where the dataset leaves them unset (vidspace.protocols)."""
    from vidspace.protocols import check_dataset, get_protocol

    for name, ds in config["datasets"].items():
        if "protocol" not in ds:
            continue
        try:
            protocol = get_protocol(ds["protocol"])
            check_dataset(protocol, ds["adapter"])
        except ValueError as exc:
            raise ConfigError(f"config error in 'datasets.{name}.protocol': {exc}") from None
        options = ds.setdefault("options", {})
        for option, allowed in protocol.data[ds["adapter"]].items():
            options.setdefault(option, allowed[0])


def _check_anchors(config: dict) -> None:
    """``anchors``: each with its keys and a source (or read from an MTEB results file,
    ``{mteb: path, model: id}``), and, under a protocol a dataset runs, a metric this run
    computes. The list is replaced by the checked anchors."""
    from vidspace.protocols import anchors_from_mteb, check_anchor, computed, get_protocol

    checked = []
    for i, anchor in enumerate(config.get("anchors") or []):
        where = f"anchors[{i}]"
        try:
            if isinstance(anchor, Mapping) and "mteb" in anchor:
                checked += [
                    (where, a) for a in anchors_from_mteb(anchor["mteb"], anchor.get("model"))
                ]
            else:
                checked.append((where, check_anchor(anchor, where)))
        except (ValueError, OSError, KeyError) as exc:
            raise ConfigError(
                f"config error: {exc}" if where in str(exc) else f"config error: {where}: {exc}"
            ) from None
    evaluation = config["evaluation"]
    used = {ds.get("protocol") for ds in config["datasets"].values()} - {None}
    for name in sorted(used):
        main = get_protocol(name).main
        if not computed(main, evaluation):
            raise ConfigError(
                f"config error: protocol {name!r} reports {main!r}, which this run does not "
                f"compute (evaluation.ks {evaluation['ks']}, evaluation.ndcg_k "
                f"{evaluation['ndcg_k']}): add it there"
            )
    for where, anchor in checked:
        if anchor["protocol"] in used and not computed(anchor["metric"], evaluation):
            raise ConfigError(
                f"config error: {where}.metric: {anchor['metric']!r} is not computed by this "
                f"run (evaluation.ks {evaluation['ks']}, evaluation.ndcg_k "
                f"{evaluation['ndcg_k']}); add it there or drop the anchor"
            )
    if "anchors" in config:
        config["anchors"] = [a for _, a in checked]


def weight_candidates(n_models: int, grid: list[float]) -> list[tuple[float, ...]]:
    """Every n-tuple of grid values that sums to 1, most even first (the smallest largest
    weight, then the smallest sum of squares), then in descending order of the weights
    (the first model's first)."""
    values = sorted({float(g) for g in grid})
    if any(not 0 <= g <= 1 for g in values):
        raise ValueError(f"fusion: weights must lie in [0, 1], got {values}")
    found = [w for w in itertools.product(values, repeat=n_models) if abs(sum(w) - 1) < 1e-9]
    if not found:
        raise ValueError(
            f"fusion: no {n_models} values of the weight grid {values} sum to 1; "
            "add values such as 0.5 or 0 and 1"
        )
    return sorted(found, key=lambda w: (max(w), sum(x * x for x in w), tuple(-x for x in w)))


def _check_fusion(config: Mapping, name: str, spec: Mapping) -> None:
    """A fusion names configured, non-fusion models, each run on every dataset it runs on,
    and a weight grid with a combination that sums to 1."""
    where = f"config error in 'models.{name}.models'"
    for part in spec["models"]:
        if part not in config["models"]:
            raise ConfigError(
                f"{where}: {part!r} is not under 'models' ({sorted(config['models'])})"
            )
        if config["models"][part]["adapter"] == "fusion":
            raise ConfigError(f"{where}: {part!r} is itself a fusion; name its models instead")
    for ds_name, ds in config["datasets"].items():
        runs = ds.get("models")
        if runs is not None and name in runs:
            missing = [p for p in spec["models"] if p not in runs]
            if missing:
                raise ConfigError(
                    f"config error in 'datasets.{ds_name}.models': it runs the fusion {name!r} "
                    f"but not its models {missing}: a fusion combines models of one dataset"
                )
    try:
        weight_candidates(len(spec["models"]), spec["weights"])
    except ValueError as exc:
        raise ConfigError(f"config error in 'models.{name}.weights': {exc}") from None


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
        if spec["adapter"] == "fusion":
            _check_fusion(config, name, spec)
            continue
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


def reference(schema: Mapping | None = None) -> str:
    """docs/configuration.md: every key of the schema with its type, default and meaning,
    top-level sections in the schema's order (tests/test_config_reference.py keeps the
    file current; `python scripts/config_reference.py` writes it)."""
    schema = schema or load_schema()
    defs = schema.get("$defs", {})
    lines = [
        "# Configuration reference",
        "",
        "Generated from `schemas/config.schema.yaml` by `python scripts/config_reference.py`;",
        "do not edit. The workflow validates a config against the schema when it starts (a",
        "misspelt key, a wrong type or an unknown name stops it with one message naming the",
        "key) and fills in every default listed here, so rules and scripts see the same values.",
        "Names under `datasets`, `samplings`, `models` and `variants` become path components:",
        "lowercase `[a-z0-9_-]`.",
        "",
        schema.get("description", "").strip(),
    ]
    sections = [
        (key, sub, key in schema.get("required", [])) for key, sub in schema["properties"].items()
    ]
    shared = [(name, d) for name, d in defs.items() if d.get("x-shared")]
    for key, sub, required in sections + [(f"<{n}>", d, True) for n, d in shared]:
        title = f"`{key}`" if not key.startswith("<") else f"A {key[1:-1]} (`{key}`)"
        lines += ["", f"## {title}" + ("" if required else " (optional)"), ""]
        rows: list[tuple[str, str, str, str]] = []
        _reference_rows(key, sub, defs, rows, seen=set(), top=True)
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in rows]
    return "\n".join(lines).rstrip() + "\n"


def _resolve(node: Mapping, defs: Mapping) -> tuple[Mapping, str | None]:
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        name = ref.rsplit("/", 1)[1]
        return defs[name], name
    return node, None


def _type_of(node: Mapping) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kinds = node.get("type")
    if "oneOf" in node and not kinds:
        return " or ".join(_type_of(o) for o in node["oneOf"])
    text = " or ".join(kinds) if isinstance(kinds, list) else (kinds or "any")
    if kinds == "array" and "items" in node:
        text = f"list of {_type_of(node['items'])}"
    signs = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤"}
    bounds = [f"{sign} {node[key]}" for key, sign in signs.items() if key in node]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _reference_rows(
    path: str, node: Mapping, defs: Mapping, rows: list, seen: set, top: bool = False
) -> None:
    outer = node
    node, name = _resolve(node, defs)
    if name and "description" in outer:  # a $ref with a description of its own
        node = {**node, "description": outer["description"]}
    if name in seen:
        rows.append((path, f"a `{name}` entry", "", "as above"))
        return
    if name and not top and node.get("x-shared"):
        # a shared definition (a source): one row here, its fields in its own section
        rows.append((path, f"a {name} (`<{name}>`)", "", _cell(node["description"])))
        return
    seen = seen | ({name} if name else set())
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    is_object = node.get("type") == "object" or "properties" in node
    if not is_object or "description" in node:
        rows.append((path, _type_of(node), default, _cell(node.get("description", ""))))
    for key, sub in (node.get("properties") or {}).items():
        _reference_rows(f"{path}.{key}", sub, defs, rows, seen)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        _reference_rows(f"{path}.<name>", extra, defs, rows, seen)
    for branch in node.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {})
        when = "; ".join(
            f"{k}: {v['const'] if 'const' in v else ', '.join(v.get('enum', []))}"
            for k, v in condition.items()
        )
        for key, sub in (branch.get("then", {}).get("properties") or {}).items():
            before = len(rows)
            _reference_rows(f"{path}.{key}", sub, defs, rows, seen)
            rows[before:] = [
                (k, "as above", d, f"the default when {when}")
                if t == "any"
                else (k, t, d, f"({when}) {m}".strip())
                for k, t, d, m in rows[before:]
            ]

"""Analyses of the embeddings, one module each, each declared once.

A module of this package that defines ``ANALYSIS`` (an :class:`Analysis`) is an analysis:
its stage (outputs, inputs, the config keys it reads, the function that runs it), its
report section, its figure, its Findings sentences and the outputs DVC shows as metrics
are all in that declaration. The workflow builds its rules from :func:`registry`, the
report its index, sections and Findings, and the DVC export its metrics and parameters;
nothing else lists the analyses. Adding one is adding a module (plus its config keys in
the schema, its definitions and its tests).

Declarations import nothing heavy: the workflow reads them when it parses the Snakefile.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

EACH = ("dataset", "model", "variant")


def _wildcards(pattern: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(re.findall(r"{(\w+)}", pattern)))


def _log(rule: str, wildcards: tuple[str, ...]) -> str:
    """``logs/<rule>/{w1}/{w2}.log``: logs mirror outputs (and name DVC's stages)."""
    return f"logs/{rule}/" + "/".join(f"{{{w}}}" for w in wildcards) + ".log"


def _benchmark(log: str) -> str:
    return "results/benchmarks/" + log[len("logs/") : -len(".log")] + ".tsv"


@dataclass(frozen=True)
class Input:
    """An upstream output a job reads: output ``output`` of rule ``rule``.

    ``each`` names wildcards the job does not have ("dataset", "model", "variant"): the
    input is then one file per configured value (per combination, labelled
    ``model/variant``). ``variant="reference"`` fixes the variant to the report's
    reference variant.
    """

    rule: str
    output: str
    each: tuple[str, ...] = ()
    variant: str | None = None

    def __post_init__(self):
        unknown = set(self.each) - set(EACH)
        if unknown:
            raise ValueError(f"Input.each: unknown wildcards {sorted(unknown)} (use {EACH})")


@dataclass(frozen=True)
class Figure:
    """A figure of the report, drawn from result files by ``draw(inputs, out, wildcards,
    config)``: ``inputs`` maps each input name to a path, or to ``{label: path}`` for an
    input with ``each``; ``out`` is the PNG to write (atomically)."""

    name: str
    path: str
    caption: str
    category: str
    inputs: Mapping[str, Input]
    draw: Callable[..., Any]
    config_keys: tuple[str, ...] = ()
    module: str = field(default="", compare=False)  # where it is declared (set on discovery)

    @property
    def rule(self) -> str:
        return f"plot_{self.name}"

    @property
    def wildcards(self) -> tuple[str, ...]:
        return _wildcards(self.path)

    def log(self) -> str:
        return _log(self.rule, self.wildcards)

    def benchmark(self) -> str:
        return _benchmark(self.log())


@dataclass(frozen=True)
class Analysis:
    """One analysis, declared once.

    - ``outputs``: output name -> path pattern with the wildcards ``{dataset}``,
      ``{model}`` (and ``{variant}``); names are unique across analyses, they key the
      report's index (``datasets[ds]["models"][m][name]``).
    - ``inputs``: input name -> :class:`Input`.
    - ``config_keys``: the dotted config keys the stage reads. ``run(inputs, outputs,
      config)`` gets exactly those (as a nested mapping): DVC's parameters and the rerun
      of a changed key follow from this list, and the stage cannot read another.
    - ``metrics``: outputs ``dvc metrics`` shows.
    - ``section(report)``: its report section (markdown, "" for none), placed by
      ``order`` among the others; ``report`` is a :class:`vidspace.report.Report`.
    - ``headline(ds, model, result)``: its Findings sentence for a model that retrieves
      above chance; ``diagnostics(ds, model, result)``: sentences shown whatever the
      retrieval; ``skipped(result)``: (stage, reason) rows of the report's Skipped table. Each gets
      the JSON of the first output.
    - ``figure``: its :class:`Figure`, if any.
    - ``reported``: outputs (not figures) ``snakemake --report`` includes, name ->
      (caption file under ``report/``, category).
    """

    name: str
    outputs: Mapping[str, str]
    inputs: Mapping[str, Input]
    run: Callable[..., Any]
    config_keys: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    section: Callable[..., str] | None = None
    order: int = 50
    headline: Callable[[str, str, dict], str] | None = None
    diagnostics: Callable[[str, str, dict], list[str]] | None = None
    skipped: Callable[[dict], list[str]] | None = None
    figure: Figure | None = None
    reported: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    threads: int = 1
    module: str = field(default="", compare=False)  # where it is declared (set on discovery)

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The wildcards of the outputs, in order of appearance."""
        return _wildcards(next(iter(self.outputs.values())))

    @property
    def result(self) -> str:
        """The output the report's hooks read (the first)."""
        return next(iter(self.outputs))

    def log(self) -> str:
        return _log(self.name, self.wildcards)

    def benchmark(self) -> str:
        return _benchmark(self.log())


@cache
def registry() -> dict[str, Analysis]:
    """Every analysis of this package, by name, in the order of their report sections."""
    found = [
        declared
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        for declared in declared_in(f"{__name__}.{info.name}")
        if isinstance(declared, Analysis)
    ]
    found.sort(key=lambda a: (a.order, a.name))
    outputs = [name for a in found for name in a.outputs]
    clash = sorted({n for n in outputs if outputs.count(n) > 1})
    if clash:
        raise ValueError(f"analyses declare the same output names: {clash}")
    return {a.name: a for a in found}


def figures() -> dict[str, Figure]:
    """Every declared figure: the report's own (retrieval) and the analyses', by rule."""
    from vidspace.report.figures import FIGURES

    declared = [*FIGURES, *(a.figure for a in registry().values() if a.figure)]
    return {f.rule: f for f in declared}


def declared_in(module: str) -> list[Analysis | Figure]:
    """The analysis and figures declared in ``module`` (by its dotted name), importing that
    module alone: a stage loads only the code it runs."""
    namespace = vars(importlib.import_module(module))
    found: list[Analysis | Figure] = []
    analysis = namespace.get("ANALYSIS")
    if isinstance(analysis, Analysis):
        object.__setattr__(analysis, "module", module)
        found.append(analysis)
        if analysis.figure:
            object.__setattr__(analysis.figure, "module", module)
            found.append(analysis.figure)
    found += [f for f in namespace.get("FIGURES", ()) if isinstance(f, Figure)]
    return found


def find_declared(module: str, rule: str) -> Analysis | Figure:
    """The analysis named ``rule``, or the figure whose rule it is (``plot_<name>``),
    declared in ``module`` (importing that module alone)."""
    for declared in declared_in(module):
        if (declared.rule if isinstance(declared, Figure) else declared.name) == rule:
            return declared
    raise ValueError(f"{module} declares no analysis or figure {rule!r} (see --list)")


def describe() -> str:
    """Every analysis and figure: what it reads, writes and which config keys it gets."""
    lines = []
    for a in registry().values():
        inputs = ", ".join(
            f"{n} ({i.rule}.{i.output}{' per ' + '/'.join(i.each) if i.each else ''})"
            for n, i in a.inputs.items()
        )
        lines += [
            f"{a.name} ({a.module}):",
            f"  inputs:  {inputs}",
            f"  outputs: {', '.join(f'{n}={p}' for n, p in a.outputs.items())}",
            f"  config:  {', '.join(a.config_keys) or '(none)'}",
        ]
    for rule, f in figures().items():
        reads = ", ".join(f"{n} ({i.rule}.{i.output})" for n, i in f.inputs.items())
        lines.append(f"{rule} ({f.module}): {f.path} from {reads}")
    return "\n".join(lines)


def select(config: Mapping, keys: tuple[str, ...]) -> dict:
    """The values of dotted ``keys`` of ``config`` as a nested mapping (absent keys left
    out): what a stage that declares ``keys`` may read."""
    out: dict = {}
    for key in keys:
        source, target = config, out
        parts = key.split(".")
        try:
            for part in parts[:-1]:
                source = source[part]
                target = target.setdefault(part, {})
            target[parts[-1]] = source[parts[-1]]
        except (KeyError, TypeError):
            continue
    return out


def skipped_whole(stage: str) -> Callable[[dict], list[tuple[str, str]]]:
    """An ``Analysis.skipped`` hook for a result skipped as a whole: its top-level
    ``skipped`` reason, under ``stage``."""
    return lambda result: [(stage, result["skipped"])] if "skipped" in result else []


def input_key(name: str, label: str) -> str:
    """The rule's name for file ``label`` of input ``name`` ("" for a single file)."""
    return f"{name}/{label}" if label else name


def grouped(named: Mapping[str, str], inputs: Mapping[str, Input]) -> dict:
    """A rule's named input files back as {name: path}, or {name: {label: path}} for an
    input with ``each`` (the inverse of :func:`input_key`), orders kept."""
    named = dict(named.items())
    out: dict = {}
    for name, spec in inputs.items():
        if not spec.each:
            out[name] = named[name]
            continue
        prefix = input_key(name, "_")[:-1]
        out[name] = {k[len(prefix) :]: v for k, v in named.items() if k.startswith(prefix)}
    return out

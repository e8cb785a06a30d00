"""Published numbers beside ours: the reference tables in ``ganbench/reference/published.yaml``.

The file holds tables from papers whose protocol a benchmark config follows (Lucic et al. 2018 for
config/lucic2018.yaml, ...), each with its citation, where the numbers were read, the protocol, what the paper's
metric is computed on, and two mappings into ganbench: the paper's dataset and metric names to ganbench's keys, and
the paper's method names (its rows) to ganbench variant names or labels. ``load_published`` reads and checks the
file; every structural error names the entry and key at fault.

``published_view`` matches one report table against them, with no per-paper code: a published table contributes a
column beside one of our datasets when it maps a paper dataset to that dataset (its ``type`` when the config
aliases one) and a paper metric to the table's metric, and at least one of our variants maps to a paper row that
has a number there (through the table's ``variants`` hint, or a label equal to the row name) and has the settings
the table ``requires``. Under such a table the report says what our numbers were computed on (the config's
``evaluation.feature_extractor``, or none for the 2-D mixture metrics) against the paper's, and that numbers from
different feature extractors are not comparable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import yaml

from ganbench.errors import GanbenchError
from ganbench.metrics.registry import on_classifier

if TYPE_CHECKING:  # pragma: no cover
    from ganbench.config import Config
    from ganbench.report.tables import Table

PUBLISHED_PATH = Path(__file__).resolve().parent.parent / "reference" / "published.yaml"

# How ganbench measures a metric, when not with evaluation.feature_extractor: the 2-D mixture metrics (kind
# "points") use no extractor at all, and the image metrics whose declaration needs the domain classifier but not the
# real features (``registry.on_classifier``) read the per-dataset classifier's outputs.
NO_EXTRACTOR = "none"
CLASSIFIER = "ganbench-classifier"
OUR_EXTRACTORS = {
    NO_EXTRACTOR: "no feature extractor (each sample is assigned to its nearest mixture centre)",
    CLASSIFIER: "ganbench's domain classifier trained on each dataset, not Inception",
    "inception-v3-compat": "torch-fidelity's Inception-v3 (the FID reference network)",
}

_CITATION_KEYS = ("authors", "title", "venue", "year", "arxiv")
_COMMON_KEYS = {"id", "citation", "table", "label", "protocol", "feature_extractor", "datasets", "metrics",
                "variants", "requires", "notes"}
_TABLE_KEYS = _COMMON_KEYS | {"read_in", "rows"}
_PENDING_KEYS = _COMMON_KEYS | {"reason"}


class PublishedError(GanbenchError, ValueError):
    """The published-numbers file is malformed; the message names the file, the entry and the key."""


def _plain(x: float | int) -> str:
    """A number as written in the file: 55.0 stays "55.0", 1000 stays "1000" (Python's shortest round-trip form)."""
    return str(x) if isinstance(x, int) else repr(float(x))


@dataclass(frozen=True)
class Value:
    mean: float | int  # as written in the file, so that the report prints the paper's digits
    std: float | int | None = None

    def text(self) -> str:
        """"mean ± std" with the digits of the file (the mean alone when the paper gives no std)."""
        return _plain(self.mean) if self.std is None else f"{_plain(self.mean)} ± {_plain(self.std)}"


@dataclass(frozen=True)
class PublishedTable:
    id: str
    citation: dict[str, Any]
    table: str | None
    label: str
    protocol: dict[str, str]
    extractor: str  # feature_extractor.name
    extractor_description: str
    comparable: tuple[str, ...]  # ganbench measurements of the same kind (feature_extractor.ganbench)
    datasets: dict[str, str]  # paper dataset -> ganbench dataset key
    metrics: dict[str, str]  # paper metric -> ganbench metric
    variants: dict[str, tuple[str, ...]]  # paper row -> ganbench variant names or labels
    requires: dict[str, Any] = field(default_factory=dict)
    read_in: dict[str, str] = field(default_factory=dict)  # source id -> where the numbers were read
    rows: dict[str, dict[str, dict[str, Value]]] = field(default_factory=dict)  # row -> dataset -> metric -> value
    row_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # row -> source ids
    notes: tuple[str, ...] = ()
    reason: str = ""  # pending entries: why there are no numbers

    @property
    def citation_text(self) -> str:
        c = self.citation
        authors = ", ".join(c["authors"])
        return f'{authors}. "{c["title"]}". {c["venue"]} {c["year"]}, arXiv:{c["arxiv"]}.'

    def value(self, row: str, dataset: str, metric: str) -> Value | None:
        return self.rows.get(row, {}).get(dataset, {}).get(metric)

    def paper_datasets(self, key: str) -> list[str]:
        return [p for p, k in self.datasets.items() if k == key]

    def paper_metrics(self, metric: str) -> list[str]:
        return [p for p, m in self.metrics.items() if m == metric]


@dataclass(frozen=True)
class Published:
    tables: tuple[PublishedTable, ...]
    pending: tuple[PublishedTable, ...] = ()
    source: str = "<published>"


# ---------------------------------------------------------------------------------------------- loading
class _Checker:
    """Type checks that raise PublishedError naming ``source`` and the dotted key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str) -> PublishedError:
        return PublishedError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, where: str, *, empty: bool = False) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        if not value and not empty:
            raise self.fail(where, "must not be empty")
        for k in value:
            if not isinstance(k, str) or not k.strip():
                raise self.fail(where, f"keys must be non-empty strings, got {k!r}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def texts(self, value: Any, where: str, *, empty: bool = True) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (not value and not empty):
            raise self.fail(where, f"expected a {'' if empty else 'non-empty '}list of strings, got {value!r}")
        return tuple(self.text(v, f"{where}[{i}]") for i, v in enumerate(value))

    def number(self, value: Any, where: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        return value

    def keys(self, value: dict, allowed: set[str], required: Iterable[str], where: str) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(map(repr, unknown))}; "
                                   f"allowed: {', '.join(sorted(allowed))}")
        missing = [k for k in required if k not in value]
        if missing:
            raise self.fail(where, f"missing key(s) {', '.join(map(repr, missing))}")


def _registered_names(check: _Checker, raw: Any, where: str, registry) -> dict[str, str]:
    """A mapping paper name → ganbench name, every value registered in ``registry``."""
    out = {}
    for paper, name in check.mapping(raw, where).items():
        name = check.text(name, f"{where}.{paper}")
        if name not in registry:
            raise check.fail(f"{where}.{paper}", f"unknown ganbench {registry.kind} {name!r}; expected one of: "
                                                 f"{', '.join(registry.names())}")
        out[paper] = name
    return out


def _entry(raw: Any, where: str, check: _Checker, pending: bool) -> PublishedTable:
    from ganbench.data import DATASETS
    from ganbench.metrics.registry import score_registry

    entry = check.mapping(raw, where)
    required = ["id", "citation", "table", "label", "protocol", "feature_extractor", "datasets", "metrics", "variants"]
    required += ["reason"] if pending else ["read_in", "rows"]
    if "id" in entry:
        eid = check.text(entry["id"], f"{where}.id")
        where = f"{where} ({eid})"
    check.keys(entry, _PENDING_KEYS if pending else _TABLE_KEYS, required, where)

    citation = check.mapping(entry["citation"], f"{where}.citation")
    check.keys(citation, set(_CITATION_KEYS), _CITATION_KEYS, f"{where}.citation")
    authors = check.texts(citation["authors"], f"{where}.citation.authors", empty=False)
    year = citation["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 < year < 2200:
        raise check.fail(f"{where}.citation.year", f"expected a year, got {year!r}")
    citation = {"authors": list(authors), "title": check.text(citation["title"], f"{where}.citation.title"),
                "venue": check.text(citation["venue"], f"{where}.citation.venue"), "year": year,
                "arxiv": check.text(str(citation["arxiv"]), f"{where}.citation.arxiv")}

    table = entry["table"]
    if not (pending and table is None):
        table = check.text(table, f"{where}.table")
    protocol = {k: check.text(v, f"{where}.protocol.{k}")
                for k, v in check.mapping(entry["protocol"], f"{where}.protocol").items()}

    fx = check.mapping(entry["feature_extractor"], f"{where}.feature_extractor")
    check.keys(fx, {"name", "description", "ganbench"}, ("name", "description", "ganbench"),
               f"{where}.feature_extractor")

    datasets = _registered_names(check, entry["datasets"], f"{where}.datasets", DATASETS)
    metrics = _registered_names(check, entry["metrics"], f"{where}.metrics", score_registry())
    variants = {row: check.texts(names or [], f"{where}.variants.{row}")
                for row, names in check.mapping(entry["variants"], f"{where}.variants").items()}
    requires = check.mapping(entry.get("requires") or {}, f"{where}.requires", empty=True)
    notes = check.texts(entry.get("notes") or [], f"{where}.notes")

    read_in: dict[str, str] = {}
    rows: dict[str, dict[str, dict[str, Value]]] = {}
    row_sources: dict[str, tuple[str, ...]] = {}
    if not pending:
        read_in = {k: check.text(v, f"{where}.read_in.{k}")
                   for k, v in check.mapping(entry["read_in"], f"{where}.read_in").items()}
        for row, cells in check.mapping(entry["rows"], f"{where}.rows").items():
            at = f"{where}.rows.{row}"
            cells = dict(check.mapping(cells, at))
            sources = check.texts(cells.pop("read_in", list(read_in)), f"{at}.read_in", empty=False)
            for s in sources:
                if s not in read_in:
                    raise check.fail(f"{at}.read_in", f"unknown source {s!r}; read_in names {', '.join(read_in)}")
            row_sources[row] = sources
            values: dict[str, dict[str, Value]] = {}
            for paper_ds, by_metric in cells.items():
                if paper_ds not in datasets:
                    raise check.fail(f"{at}.{paper_ds}",
                                     f"not a dataset of this table; datasets: {', '.join(datasets)}")
                for paper_metric, v in check.mapping(by_metric, f"{at}.{paper_ds}").items():
                    vat = f"{at}.{paper_ds}.{paper_metric}"
                    if paper_metric not in metrics:
                        raise check.fail(vat, f"not a metric of this table; metrics: {', '.join(metrics)}")
                    v = check.mapping(v, vat)
                    check.keys(v, {"mean", "std"}, ("mean",), vat)
                    std = v.get("std")
                    value = Value(check.number(v["mean"], f"{vat}.mean"),
                                  None if std is None else check.number(std, f"{vat}.std"))
                    if value.std is not None and value.std < 0:
                        raise check.fail(f"{vat}.std", f"must not be negative, got {value.std}")
                    values.setdefault(paper_ds, {})[paper_metric] = value
            if not values:
                raise check.fail(at, "has no numbers; leave a row out rather than keep it empty")
            rows[row] = values
        for row in variants:
            if row not in rows:
                raise check.fail(f"{where}.variants.{row}", f"no such row; rows: {', '.join(rows)}")

    return PublishedTable(
        id=eid, citation=citation, table=table, label=check.text(entry["label"], f"{where}.label"), protocol=protocol,
        extractor=check.text(fx["name"], f"{where}.feature_extractor.name"),
        extractor_description=check.text(fx["description"], f"{where}.feature_extractor.description"),
        comparable=check.texts(fx["ganbench"] or [], f"{where}.feature_extractor.ganbench"),
        datasets=datasets, metrics=metrics, variants=variants, requires=dict(requires), read_in=read_in, rows=rows,
        row_sources=row_sources, notes=notes,
        reason=check.text(entry["reason"], f"{where}.reason") if pending else "")


def parse_published(raw: Any, source: str = "<published>") -> Published:
    """Check and convert the parsed YAML of a published-numbers file."""
    check = _Checker(source)
    top = check.mapping(raw, "top level")
    check.keys(top, {"tables", "pending"}, ("tables",), "top level")
    entries: dict[str, list[PublishedTable]] = {}
    for name in ("tables", "pending"):
        items = top.get(name) or []
        if not isinstance(items, list):
            raise check.fail(name, f"expected a list, got {type(items).__name__}")
        entries[name] = [_entry(item, f"{name}[{i}]", check, pending=name == "pending")
                         for i, item in enumerate(items)]
    seen: set[str] = set()
    for t in entries["tables"] + entries["pending"]:
        if t.id in seen:
            raise check.fail(t.id, "duplicate id")
        seen.add(t.id)
    return Published(tuple(entries["tables"]), tuple(entries["pending"]), source)


def load_published(path: str | Path | None = None) -> Published:
    """Read and check a published-numbers file (default: the one shipped in ganbench/reference)."""
    path = Path(path) if path is not None else PUBLISHED_PATH
    if not path.is_file():
        raise PublishedError(f"{path}: published-numbers file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PublishedError(f"{path}: not valid YAML: {exc}") from exc
    return parse_published(raw, str(path))


# ---------------------------------------------------------------------------------------------- matching
def _norm(name: str) -> str:
    """Case and punctuation blind: "WGAN GP", "wgan-gp" and "WGAN-GP" are one name."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


_MISSING = object()


def _lookup(settings: Mapping[str, Any], path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _meets(ref: PublishedTable, config: "Config", variant: str) -> bool:
    """The variant has every setting the published table requires ("evaluation.<key>" reads the config's
    evaluation block, anything else the variant's merged settings)."""
    settings = config.settings(variant)
    for path, wanted in ref.requires.items():
        if path.startswith("evaluation."):
            have = _lookup(config.evaluation, path.split(".", 1)[1])
        else:
            have = _lookup(settings, path)
        if have is _MISSING or have != wanted:
            return False
    return True


def paper_row(ref: PublishedTable, config: "Config", variant: str, label: str) -> str | None:
    """The paper row our variant runs: named in the table's ``variants`` hint (by variant name or label), or a
    row whose name equals the label; None when there is none or the variant lacks the required settings."""
    ours = {_norm(variant), _norm(label)}
    row = next((r for r, names in ref.variants.items() if ours & {_norm(n) for n in names}), None)
    if row is None:
        row = next((r for r in ref.rows if _norm(r) == _norm(label)), None)
    if row is None or not _meets(ref, config, variant):
        return None
    return row


def our_extractor(metric: str, kind: str, config: "Config") -> str:
    """What ganbench computes ``metric`` on: nothing for the 2-D mixture metrics, the domain classifier's labels
    for the label metrics, otherwise the config's evaluation.feature_extractor."""
    if kind == "points":
        return NO_EXTRACTOR
    if on_classifier(metric):
        return CLASSIFIER
    return str(config.evaluation["feature_extractor"])


def extractor_note(ref: PublishedTable, metric: str, kind: str, config: "Config") -> str:
    """The sentence under a table with published numbers: what the paper's and our numbers were computed on."""
    configured = config.evaluation["feature_extractor"]
    ours = our_extractor(metric, kind, config)
    head = f"Published ({ref.label}): {ref.extractor_description}."
    if ours == NO_EXTRACTOR:
        mine = (f"Ours: {OUR_EXTRACTORS[NO_EXTRACTOR]}; the config's evaluation.feature_extractor = {configured} "
                "applies to the image metrics only.")
    elif ours != configured:
        mine = (f"Ours: evaluation.feature_extractor = {configured}; this metric uses "
                f"{OUR_EXTRACTORS.get(ours, ours)} instead.")
    else:
        mine = f"Ours: evaluation.feature_extractor = {configured} ({OUR_EXTRACTORS.get(ours, ours)})."
    if ours in ref.comparable:
        verdict = ("The same kind of measurement as the paper's; differences of protocol (architecture, training "
                   "length, sample counts) still apply.")
    else:
        verdict = ("Numbers computed with different feature extractors are not comparable: read the published "
                   "column as context, not as a target.")
    return " ".join((head, mine, verdict))


def published_view(table: "Table", config: "Config", published: Published | Sequence[PublishedTable]
                   ) -> dict[str, Any]:
    """The published columns of one report table and the notes under it.

    Returns {"columns": {our dataset: [column, ...]}, "notes": [sentence, ...]}; a column is {"id", "label",
    "title", "cells": {variant: "mean ± std"}}. Only columns with at least one number are kept."""
    refs = published.tables if isinstance(published, Published) else tuple(published)
    metric = table.metric.name
    kind = "points" if set(table.metric.kinds) == {"points"} else "image"  # the 2-D mixtures: no extractor
    columns: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for ref in refs:
        paper_metrics = ref.paper_metrics(metric)
        if not paper_metrics:
            continue
        rows = {variant: paper_row(ref, config, variant, label) for variant, label, _ in table.rows}
        used = False
        for dataset in table.datasets:
            key = (config.datasets.get(dataset) or {}).get("type", dataset)
            cells: dict[str, str] = {}
            sources: set[str] = set()
            for paper_ds in ref.paper_datasets(key):
                for variant, row in rows.items():
                    if row is None or variant in cells:
                        continue
                    value = next((v for m in paper_metrics if (v := ref.value(row, paper_ds, m)) is not None), None)
                    if value is not None:
                        cells[variant] = value.text()
                        sources.update(ref.row_sources.get(row, ()))
            if not cells:
                continue
            used = True
            read = "; ".join(ref.read_in[s] for s in ref.read_in if s in sources)
            columns.setdefault(dataset, []).append({
                "id": ref.id, "label": ref.label, "dataset": dataset,
                "title": f"{ref.citation_text} {ref.table or ''}. Read in: {read}",
                "cells": cells})
        if used:
            notes.append(extractor_note(ref, metric, kind, config))
    return {"columns": columns, "notes": notes}

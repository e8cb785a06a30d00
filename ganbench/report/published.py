"""Published numbers beside ours: the reference tables in ``ganbench/reference/published.yaml``.

The file holds tables from papers whose protocol a benchmark config follows (Lucic et al. 2018 for
config/lucic2018.yaml, ...), each with its citation, where the numbers were read, the protocol, what the paper's
metric is computed on, and two mappings into ganbench: the paper's dataset and metric names to ganbench's keys, and
the paper's method names (its rows) to ganbench variant names or labels. ``load_published`` reads and checks the
file: its structure against ganbench/schemas/published.schema.yaml (jsonschema), then the names and references a
schema cannot check; every error names the entry and key at fault.

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
from typing import TYPE_CHECKING, Any, Mapping, Sequence

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
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "published.schema.yaml"


def _where(raw: Any, path: Sequence[Any]) -> str:
    """A key path as the errors print it: ``tables[0] (lucic2018_fid).rows.GAN``, "top level" for the root."""
    out, node = "", raw
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        node = node[part] if isinstance(node, (dict, list)) else None
        if isinstance(part, int) and isinstance(node, dict) and isinstance(node.get("id"), str):
            out += f" ({node['id']})"
    return out or "top level"


def _schema_message(err: Any) -> str:
    """The words of one jsonschema error: the schema's own ``errorMessage`` where it gives one, else what is
    missing, unknown, empty or of the wrong type."""
    custom = err.schema.get("errorMessage") if isinstance(err.schema, dict) else None
    if isinstance(custom, dict):
        custom = custom.get(err.validator)
    if custom:
        return f"{custom}, got {err.instance!r}"
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return f"missing key(s) {', '.join(map(repr, missing))}"
    if err.validator == "additionalProperties":
        allowed = set(err.schema.get("properties", {}))
        unknown = sorted(set(err.instance) - allowed)
        return f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
    if err.validator in ("minProperties", "minItems"):
        return "must not be empty"
    if err.validator == "propertyNames":
        return f"keys must be non-empty strings, got {err.instance!r}"
    return err.message


def _validate(raw: Any, source: str) -> None:
    """The file against ganbench/schemas/published.schema.yaml; the first error (the shallowest; within a oneOf,
    its most specific alternative) as a PublishedError naming the key."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(yaml.safe_load(SCHEMA_PATH.read_text()))
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        while err.context:  # oneOf: the alternative that got furthest
            err = max(err.context, key=lambda e: len(e.absolute_path))
        raise PublishedError(f"{source}: {_where(raw, err.absolute_path)}: {_schema_message(err)}")


def _texts(value: Any) -> tuple[str, ...]:
    """A string or a list of strings (schema-checked), stripped."""
    return tuple(v.strip() for v in ([value] if isinstance(value, str) else value or []))


def _registered_names(fail, raw: dict[str, str], where: str, registry) -> dict[str, str]:
    """A mapping paper name → ganbench name, every value registered in ``registry``."""
    out = {}
    for paper, name in raw.items():
        name = name.strip()
        if name not in registry:
            raise fail(f"{where}.{paper}", f"unknown ganbench {registry.kind} {name!r}; expected one of: "
                                           f"{', '.join(registry.names())}")
        out[paper] = name
    return out


def _entry(entry: dict[str, Any], where: str, fail, pending: bool) -> PublishedTable:
    """One schema-checked entry, its names looked up in ganbench's registries and its rows checked against its
    own datasets, metrics and sources."""
    from ganbench.data import DATASETS
    from ganbench.metrics.registry import score_registry

    eid = entry["id"].strip()
    where = f"{where} ({eid})"
    c = entry["citation"]
    citation = {"authors": list(_texts(c["authors"])), "title": c["title"].strip(), "venue": c["venue"].strip(),
                "year": c["year"], "arxiv": str(c["arxiv"]).strip()}
    datasets = _registered_names(fail, entry["datasets"], f"{where}.datasets", DATASETS)
    metrics = _registered_names(fail, entry["metrics"], f"{where}.metrics", score_registry())
    variants = {row: _texts(names) for row, names in entry["variants"].items()}

    read_in: dict[str, str] = {}
    rows: dict[str, dict[str, dict[str, Value]]] = {}
    row_sources: dict[str, tuple[str, ...]] = {}
    if not pending:
        read_in = {k: v.strip() for k, v in entry["read_in"].items()}
        for row, cells in entry["rows"].items():
            at = f"{where}.rows.{row}"
            cells = dict(cells)
            sources = _texts(cells.pop("read_in", list(read_in)))
            for source in sources:
                if source not in read_in:
                    raise fail(f"{at}.read_in", f"unknown source {source!r}; read_in names {', '.join(read_in)}")
            row_sources[row] = sources
            values: dict[str, dict[str, Value]] = {}
            for paper_ds, by_metric in cells.items():
                if paper_ds not in datasets:
                    raise fail(f"{at}.{paper_ds}", f"not a dataset of this table; datasets: {', '.join(datasets)}")
                for paper_metric, v in by_metric.items():
                    vat = f"{at}.{paper_ds}.{paper_metric}"
                    if paper_metric not in metrics:
                        raise fail(vat, f"not a metric of this table; metrics: {', '.join(metrics)}")
                    for key in ("mean", "std"):
                        if v.get(key) is not None and not math.isfinite(v[key]):
                            raise fail(f"{vat}.{key}", f"expected a finite number, got {v[key]!r}")
                    values.setdefault(paper_ds, {})[paper_metric] = Value(v["mean"], v.get("std"))
            if not values:
                raise fail(at, "has no numbers; leave a row out rather than keep it empty")
            rows[row] = values
        for row in variants:
            if row not in rows:
                raise fail(f"{where}.variants.{row}", f"no such row; rows: {', '.join(rows)}")

    fx = entry["feature_extractor"]
    table = entry["table"]
    return PublishedTable(
        id=eid, citation=citation, table=table.strip() if table is not None else None, label=entry["label"].strip(),
        protocol={k: v.strip() for k, v in entry["protocol"].items()}, extractor=fx["name"].strip(),
        extractor_description=fx["description"].strip(), comparable=_texts(fx["ganbench"]),
        datasets=datasets, metrics=metrics, variants=variants, requires=dict(entry.get("requires") or {}),
        read_in=read_in, rows=rows, row_sources=row_sources, notes=_texts(entry.get("notes")),
        reason=entry["reason"].strip() if pending else "")


def parse_published(raw: Any, source: str = "<published>") -> Published:
    """Check (the schema, then the references) and convert the parsed YAML of a published-numbers file."""
    _validate(raw, source)

    def fail(where: str, message: str) -> PublishedError:
        return PublishedError(f"{source}: {where}: {message}")

    entries = {name: [_entry(item, f"{name}[{i}]", fail, pending=name == "pending")
                      for i, item in enumerate(raw.get(name) or [])] for name in ("tables", "pending")}
    seen: set[str] = set()
    for t in entries["tables"] + entries["pending"]:
        if t.id in seen:
            raise fail(t.id, "duplicate id")
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

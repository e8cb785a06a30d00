"""What each pipeline job depends on: the slice of the config it reads, as a JSON-able spec.

Snakemake reruns a job when its params change. The Snakefile therefore hands every job exactly its spec, as a
param and on the command line (``ganbench <command> --spec JSON``), and nothing else of the config: editing one
variant changes only that variant's train specs, an evaluation option only the evaluation specs, a label only the
report's config record. ``ganbench <command> --config FILE`` computes the same spec from a whole config file, so a
job run by hand and the same job run by the DAG do the same thing.

============  ================================================  =====================================
job           spec                                               reruns when
============  ================================================  =====================================
prepare       dataset name, registry type, options except        the dataset's options change
              where to download from (``mirrors``: the content
              is verified by checksum, so a mirror is no part
              of the data)
classifier    ``evaluation.classifier``                          a classifier option changes
features      ``evaluation``                                     an evaluation option changes
train         the variant's settings without display keys        a setting, the seed or a runtime
              (label, datasets, search), the seed, the runtime   switch that changes numerics (amp)
              switches; a searched variant: its settings with    changes, or the selection does
              the selected setting's delta (selected.json)
evaluate      ``evaluation``                                     an evaluation option changes
train_search  the sampled setting's settings, the seed, the      the sample's settings change
              runtime switches
evaluate_     ``evaluation`` with ``real_split: val``            an evaluation option changes
search
select        metric and its direction, phase-1 seeds, every     the search changes (its phase-1
              sampled setting (h, values, delta)                 metrics: by their files)
weights       the extractor's file name (where it is fetched     never (the file is verified by its
              from is no part of it)                             SHA-256)
============  ================================================  =====================================

The evaluation spec leaves out ``weights_mirrors`` and ``weights_cache``: where feature-network weights are
downloaded from and kept is no part of a result (the file is verified by the hash in its name).

Each job also reruns when an input file is rewritten (Snakemake's mtime trigger): a re-prepared dataset retrains
its runs, a retrained run is evaluated again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ganbench.errors import ConfigError

# Settings keys that say how a variant is shown or where it runs, not what it trains (a variant's `runtime:` travels
# in the spec's own "runtime").
# A variant's `search:` says how its settings are chosen (ganbench.search); the chosen ones travel in the spec.
DISPLAY_KEYS = ("name", "label", "datasets", "runtime", "search")
# Evaluation keys that say where something is fetched from, not what is computed.
EVALUATION_SOURCES = ("weights_mirrors", "weights_cache")
# Runtime switches that change what a run computes: bf16 autocast changes its precision. The others (device,
# threads, compile, deterministic, cudnn_benchmark) change how the same computation is scheduled — floating-point
# reduction order, not what is trained — so a run may resume under another of them; train.json records them all.
NUMERIC_RUNTIME = ("amp",)


def canonical(obj: Any) -> str:
    """One JSON text per value: sorted keys, no spaces (specs compare and hash as text)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def digest(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:length]


def parse(text: str, what: str) -> dict[str, Any]:
    """A spec given on the command line; ConfigError names the flag and what was expected."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--spec: not valid JSON ({exc}); expected the {what} spec the Snakefile passes") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"--spec: expected a JSON object (the {what} spec), got {type(spec).__name__}")
    return spec


def require(spec: dict[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ConfigError(f"--spec: the {what} spec has no {missing[0]!r}; expected keys {', '.join(keys)}")
    return spec


# ---------------------------------------------------------------------------------------------- the specs
def prepare_spec(config, dataset: str) -> dict[str, Any]:
    builder = config.dataset_builder(dataset)
    options = builder.identity_options()
    return {"dataset": dataset, "type": config.datasets[dataset].get("type", dataset), "options": options,
            "sources": {k: builder.options[k] for k in builder.source_options}}


def prepare_identity(spec: dict[str, Any]) -> dict[str, Any]:
    """What of a prepare spec decides the prepared data (and so the Snakemake param): not its sources."""
    return {k: v for k, v in spec.items() if k != "sources"}


def classifier_spec(config) -> dict[str, Any]:
    return {"classifier": config.evaluation["classifier"]}


def evaluation_spec(config, split: str | None = None) -> dict[str, Any]:
    """The evaluation options; ``split``: the real split to compare with instead of the configured one (``val``
    for a search's phase 1)."""
    evaluation = {k: v for k, v in config.evaluation.items() if k not in EVALUATION_SOURCES}
    return {"evaluation": evaluation if split is None else {**evaluation, "real_split": split}}


def train_spec(config, dataset: str, variant: str, seed: int, delta: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """A run's spec; ``delta``: settings over the variant's (a search's sampled or selected setting)."""
    from ganbench.config import merge

    settings = merge(config.settings(variant), delta or {})
    settings = {k: v for k, v in settings.items() if k not in DISPLAY_KEYS}
    runtime = config.runtime_of(variant)
    return {"dataset": dataset, "variant": variant, "seed": int(seed), "settings": settings, "runtime": runtime}


def search_train_spec(config, dataset: str, variant: str, h: int, seed: int) -> dict[str, Any]:
    """The spec of phase-1 run (sampled setting ``h``, ``seed``) of a searched variant."""
    samples = config.samples(variant)
    if not 0 <= int(h) < len(samples):
        raise ConfigError(f"variant {variant!r} has no search setting h{h} (it has {len(samples)})")
    return {**train_spec(config, dataset, variant, seed, samples[int(h)].delta), "h": int(h)}


def selected_train_spec(config, dataset: str, variant: str, seed: int, selected: dict[str, Any] | None
                        ) -> dict[str, Any]:
    """The spec of a phase-2 run: the variant's settings with the selected setting's delta (``selected``: the
    selection's record, selected.json; None for a variant that does not search)."""
    if config.search(variant) is not None and selected is None:
        raise ConfigError(f"variant {variant!r} searches: its runs train the setting the search selects "
                          f"(results/search/{dataset}/{variant}/selected.json); give that file")
    return train_spec(config, dataset, variant, seed, (selected or {}).get("delta") or {})


def select_spec(config, dataset: str, variant: str) -> dict[str, Any]:
    """What the selection of one (dataset, variant) reads beside its phase-1 metrics."""
    from ganbench.search import higher_is_better

    search = config.search(variant)
    if search is None:
        raise ConfigError(f"variant {variant!r} has no search: block")
    return {"dataset": dataset, "variant": variant, "metric": search.metric,
            "higher_is_better": higher_is_better(search.metric), "seeds": list(search.seeds),
            "samples": [s.record() for s in config.samples(variant)]}


def train_identity(spec: dict[str, Any], data_fingerprint: str) -> dict[str, Any]:
    """Everything that shapes a run's weights: its settings, seed, the numeric runtime switches and the data."""
    return {"settings": spec["settings"], "seed": int(spec["seed"]), "data": data_fingerprint,
            "runtime": {k: spec["runtime"].get(k) for k in NUMERIC_RUNTIME}}


def train_param(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a train spec Snakemake compares between runs: the identity without the data (whose changes
    reach the job as a rewritten input file) and without runtime keys that do not change numerics."""
    return {"settings": spec["settings"], "seed": spec["seed"],
            "runtime": {k: spec["runtime"].get(k) for k in NUMERIC_RUNTIME}}

"""Pretrained weights of the paper-comparable feature networks, downloaded once into a cache (``results/weights``).

``evaluation.feature_extractor: inception-v3-compat`` (FID/KID/IS as papers compute them) and
``evaluation.prc_feature_extractor: vgg16`` (precision/recall as Kynkäänniemi et al.) need ImageNet-trained weights.
Given as local files (``evaluation.feature_extractor_weights``, ``evaluation.prc_feature_extractor_weights``) they are
used as they are; left out, the pipeline's ``download_weights`` job (a local rule: it runs where Snakemake runs, which
on a cluster is the node with the internet) fetches each file once into the weights cache (``evaluation.weights_cache``,
default ``results/weights/``) and the evaluation jobs hand torch-fidelity that local file (its
``feature_extractor_weights_path``), so torch-fidelity builds the very network it would have downloaded. Where from:
``evaluation.weights_mirrors`` (base URLs or folders tried in order, through ``ganbench.data.download``), by default the
URLs torch-fidelity and torchvision download them from. The file names follow torch.hub's convention, ``<name>-<first
hex digits of its SHA-256>.pth``, and a download is verified against that prefix before it is renamed into place.
Offline, the job fails with a message that names the config key of the local-file alternative.

The domain classifier (``ganbench-classifier``, the default) needs no download: it is trained per dataset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.errors import ConfigError

CLASSIFIER = "ganbench-classifier"
HASH_IN_NAME = re.compile(r"-([0-9a-f]{6,})\.[A-Za-z0-9]+$")  # torch.hub: name-<sha256 prefix>.ext


@dataclass(frozen=True)
class WeightsFile:
    """One downloadable weights file: the extractor it is for, its (hash-named) file, the folder of its official
    copy, and the config key where a local copy can be given instead."""

    extractor: str
    filename: str
    official: str
    key: str

    @property
    def sha256_prefix(self) -> str:
        match = HASH_IN_NAME.search(self.filename)
        if match is None:  # a programming error: every entry below carries its hash
            raise ValueError(f"{self.filename}: no SHA-256 prefix in the name (expected name-<hex>.pth)")
        return match.group(1)

    @property
    def url(self) -> str:
        return self.official + self.filename


# The files torch-fidelity itself downloads: torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3, and
# torchvision's VGG16_Weights.IMAGENET1K_V1 (torch_fidelity.utils_torchvision); tests/test_weights.py checks that
# these are still the libraries' URLs.
WEIGHTS = {
    "inception-v3-compat": WeightsFile(
        "inception-v3-compat", "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/", "evaluation.feature_extractor_weights"),
    "vgg16": WeightsFile(
        "vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/",
        "evaluation.prc_feature_extractor_weights"),
}


def cache_dir(evaluation: dict[str, Any], results: str | Path = "results") -> str:
    """The folder downloaded weights are kept in: ``evaluation.weights_cache``, else ``<results>/weights``."""
    return str(evaluation.get("weights_cache") or Path(results, "weights").as_posix())


def prc_extractor(evaluation: dict[str, Any]) -> str | None:
    """The extractor of precision/recall/density/coverage when it is not the main one: vgg16 when asked for by name
    or by giving its weights file (as before the name existed), else None."""
    if evaluation.get("prc_feature_extractor") or evaluation.get("prc_feature_extractor_weights"):
        return evaluation.get("prc_feature_extractor") or "vgg16"
    return None


def needed(evaluation: dict[str, Any]) -> dict[str, WeightsFile]:
    """The weights to download for an evaluation, by role ("main", "prc"): the extractors without a local file."""
    out = {}
    main = evaluation["feature_extractor"]
    if main != CLASSIFIER and not evaluation.get("feature_extractor_weights") and main in WEIGHTS:
        out["main"] = WEIGHTS[main]
    prc = prc_extractor(evaluation)
    if prc is not None and not evaluation.get("prc_feature_extractor_weights") and prc in WEIGHTS:
        out["prc"] = WEIGHTS[prc]
    return out


def weights_spec(evaluation: dict[str, Any], filename: str) -> dict[str, Any]:
    """The download job of ``filename``: the extractor it is for and where to fetch it from."""
    for weights in needed(evaluation).values():
        if weights.filename == filename:
            mirrors = evaluation.get("weights_mirrors") or [weights.official]
            return {"extractor": weights.extractor, "filename": filename, "mirrors": list(mirrors),
                    "cache": cache_dir(evaluation)}
    raise ConfigError(f"no feature network of this evaluation downloads {filename!r}; it downloads "
                      f"{', '.join(w.filename for w in needed(evaluation).values()) or 'nothing'}")


def fetch_weights(spec: dict[str, Any], out_dir: str | Path) -> Path:
    """Download (or find, verified, in ``out_dir``) the weights file of ``spec`` (``weights_spec``); a failure
    names ``evaluation.weights_mirrors`` and the key of the local-file alternative."""
    weights = WEIGHTS.get(spec.get("extractor"))
    if weights is None or spec.get("filename") != weights.filename:
        raise ConfigError(f"--spec: no downloadable weights {spec.get('filename')!r} for extractor "
                          f"{spec.get('extractor')!r}; expected one of "
                          f"{', '.join(f'{w.extractor}: {w.filename}' for w in WEIGHTS.values())}")
    return download(weights, spec.get("mirrors") or [weights.official], out_dir)


def download(weights: WeightsFile, mirrors: list[str], out_dir: str | Path) -> Path:
    """``weights``' file from the first of ``mirrors`` (URLs or folders) that has it, verified by the SHA-256 prefix
    in its name, into ``out_dir`` (a verified copy already there is kept); every mirror failing raises a DataError
    naming ``evaluation.weights_mirrors`` and the local-file alternative (``weights.key``)."""
    from ganbench.data.download import fetch, mirror_list

    hint = (f"Or, without a network, give a local copy of the file: {weights.key}: /path/to/{weights.filename} "
            f"(the official copy is {weights.url}). The domain classifier (evaluation.feature_extractor: "
            f"{CLASSIFIER}) needs no download.")
    return fetch(weights.filename, mirror_list(mirrors, "evaluation.weights_mirrors"), Path(out_dir),
                 option="evaluation.weights_mirrors", hint=hint, sha256_prefix=weights.sha256_prefix)

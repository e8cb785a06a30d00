# Shared set-up: the validated config as a ganbench Config, and the file it is handed to the CLI in.
import hashlib
import os
import json
import sys

import yaml
from pathlib import Path

import ganbench

from ganbench.config import Config
from ganbench.errors import ConfigError
from ganbench.io import write_text

RESULTS = "results"

try:
    CFG = Config(config, source="the Snakemake config")
except ConfigError as exc:
    sys.exit(f"ganbench: invalid config: {exc}")

# Every job reads the config as it was validated here (whatever mix of --configfile/--config produced it).
_cfg_text = yaml.safe_dump(config, sort_keys=True)
CONFIG_FILE = f"{RESULTS}/.config/{hashlib.sha256(_cfg_text.encode()).hexdigest()[:16]}.yaml"
if not os.path.exists(CONFIG_FILE):
    write_text(CONFIG_FILE, _cfg_text)

RUNS = list(CFG.runs())
PUBLISHED = str(Path(ganbench.__file__).parent / "reference" / "published.yaml")
IMAGE_DATASETS = set(CFG.image_datasets())
GANBENCH = f"{sys.executable} -m ganbench"


wildcard_constraints:
    dataset="[A-Za-z0-9_.+-]+",
    variant="[A-Za-z0-9_.+-]+",
    seed=r"\d+",


def run_dir(w):
    return f"{RESULTS}/runs/{w.dataset}/{w.variant}/seed{w.seed}"


def fingerprint(*parts):
    """Short hash of what a job depends on in the config: Snakemake reruns the job when it changes."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

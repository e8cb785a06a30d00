"""Datasets: one module per dataset family, each registered in DATASETS by name."""

from ganbench.data import mixtures  # noqa: F401  (registers ring8, grid25)
from ganbench.data.base import DATASETS, DatasetBuilder, Prepared, load_prepared, make_builder, prepare_dataset

__all__ = ["DATASETS", "DatasetBuilder", "Prepared", "load_prepared", "make_builder", "prepare_dataset"]

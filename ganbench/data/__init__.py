"""Datasets: one module per dataset family, each registered in DATASETS by name."""

from ganbench.data import (
    cifar10,  # noqa: F401  (registers cifar10, celeba64)
    mixtures,  # noqa: F401  (registers ring8, grid25)
    mnist,  # noqa: F401  (registers mnist, fashion_mnist, stacked_mnist, stacked_fashion_mnist)
)
from ganbench.data.base import DATASETS, DatasetBuilder, Prepared, load_prepared, make_builder, prepare_dataset

__all__ = ["DATASETS", "DatasetBuilder", "Prepared", "load_prepared", "make_builder", "prepare_dataset"]

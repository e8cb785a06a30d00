"""The statistics behind each table cell: mean ± std over seeds, a bootstrap CI, and a test against the baseline.

Only runs with status "ok" enter the numbers; diverged or failed runs are counted and shown, never averaged in.

The test against the baseline row is a two-sided permutation test of the difference of means, *exact* whenever
the splits of the pooled seeds can be enumerated (up to ``EXACT_LIMIT`` of them: every group size up to 10 vs 10).
It is valid for any group size, for ties and for constant groups (two constant groups with different values are
simply the most extreme split, not "p = 0"), and it makes no normality assumption, which 3–10 seeds could never
check. Its price is honesty about small samples: with n_a and n_b seeds there are C(n_a + n_b, n_a) splits, so p
cannot go below 2 / C(2n, n) for equal groups (1 / C otherwise): 0.1 for 3 vs 3, 0.029 for 4 vs 4, 0.0079 for
5 vs 5. ``min_attainable_p`` gives that floor, and a cell is marked significant only when both its p and that
floor are below α. Larger groups get Welch's unequal-variance t-test when both groups vary (the t statistic is
then defined and its normal approximation holds), else a randomized permutation test of ``MONTE_CARLO`` splits
(p = (b + 1) / (MONTE_CARLO + 1), valid by construction).
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_LIMIT = 200_000  # splits the exact test enumerates at most (10 vs 10: 184 756)
MONTE_CARLO = 20_000  # random splits of the randomized test, for groups too large to enumerate
EXACT = "exact permutation test"
WELCH = "Welch's t-test"
RANDOMIZED = "permutation test"


@dataclass
class Comparison:
    """A two-sided test of one group against the baseline: its p-value, the test's name, and the smallest p it
    could give for these group sizes whatever the values."""

    p_value: float
    test: str
    min_p: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha and self.min_p < alpha


@dataclass
class Cell:
    n: int
    failed: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    comparison: Comparison | None = None

    @property
    def total(self) -> int:
        return self.n + self.failed

    @property
    def p_value(self) -> float | None:
        return None if self.comparison is None else self.comparison.p_value

    def significant(self, alpha: float) -> bool:
        return self.comparison is not None and self.comparison.significant(alpha)


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean."""
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n_boot, len(values)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def summarize(values, failed: int = 0, n_boot: int = 2000) -> Cell:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    mean = float(v.mean()) if len(v) else math.nan
    std = float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) == 1 else math.nan)
    lo, hi = bootstrap_ci(v, n_boot)
    return Cell(len(v), failed, mean, std, lo, hi)


def splits(n_a: int, n_b: int) -> int:
    """Distinct ways to split n_a + n_b pooled values into groups of n_a and n_b."""
    return math.comb(n_a + n_b, n_a)


def exact_feasible(n_a: int, n_b: int) -> bool:
    return splits(n_a, n_b) <= EXACT_LIMIT


def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p the test used for these group sizes can give, whatever the values: the exact
    permutation test's 2 / C(n_a + n_b, n_a) for equal sizes (the two extreme splits tie), 1 / C otherwise; the
    randomized test's 1 / (MONTE_CARLO + 1) beyond ``EXACT_LIMIT`` (Welch's test has no floor). NaN when a group
    has fewer than two values (no test)."""
    if n_a < 2 or n_b < 2:
        return math.nan
    if not exact_feasible(n_a, n_b):
        return 1.0 / (MONTE_CARLO + 1)
    return (2.0 if n_a == n_b else 1.0) / splits(n_a, n_b)


def _at_least(stat: np.ndarray, observed: float, scale: float) -> np.ndarray:
    """stat ≥ observed up to float rounding of sums (ties count as at least as extreme)."""
    return stat >= observed - 1e-9 * max(scale, 1e-300)


@functools.lru_cache(maxsize=16)
def _splits_index(n: int, k: int) -> np.ndarray:
    """Every k-subset of range(n), one per row (built once per group sizes: a report tests many cells)."""
    index = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), k)), dtype=np.int64)
    index = index.reshape(-1, k)
    index.flags.writeable = False
    return index


def permutation_p(a, b, rng_seed: int = 0) -> float:
    """Two-sided permutation p of |mean(a) − mean(b)|: exact over all splits when there are at most
    ``EXACT_LIMIT``, else over ``MONTE_CARLO`` random ones."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    n_a, total = len(a), pooled.sum()
    observed = abs(a.mean() - b.mean())
    scale = float(np.abs(pooled).max()) if len(pooled) else 1.0
    if exact_feasible(len(a), len(b)):
        sums = pooled[_splits_index(len(pooled), n_a)].sum(1)
        stat = np.abs(sums / n_a - (total - sums) / len(b))
        return float(_at_least(stat, observed, scale).mean())
    rng = np.random.default_rng(rng_seed)
    index = np.argsort(rng.random((MONTE_CARLO, len(pooled))), axis=1)[:, :n_a]
    sums = pooled[index].sum(1)
    stat = np.abs(sums / n_a - (total - sums) / len(b))
    return float((_at_least(stat, observed, scale).sum() + 1) / (MONTE_CARLO + 1))


def welch_p(a, b) -> float | None:
    """Welch's two-sided unequal-variance t-test; None with fewer than two values or no variance on a side."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def compare(a, b) -> Comparison | None:
    """Group ``a`` against the baseline ``b`` (see the module text); None when a side has fewer than two values."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    floor = min_attainable_p(len(a), len(b))
    if exact_feasible(len(a), len(b)):
        return Comparison(permutation_p(a, b), EXACT, floor)
    welch = welch_p(a, b)
    if welch is not None:
        return Comparison(welch, WELCH, 0.0)
    return Comparison(permutation_p(a, b), RANDOMIZED, floor)

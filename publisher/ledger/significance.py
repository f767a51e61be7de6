"""Whether a subject-line test's variants differ: a two-proportion z-test for two, chi-squared for three or four.

Each variant is (successes, trials): its test recipients with a human open
(or click) and its test recipients sent. Two variants are compared with the
pooled two-proportion z-test, three or four with Pearson's chi-squared test
of independence on the 2 x k table of successes and failures (no continuity
correction, so that for two variants it gives z squared and the same
p-value). Both are two-sided.

The test says whether the rates differ at all, not which is best: when it
does, the variant with the highest rate wins (the lower number on a tie).
A test that cannot be computed (a variant with no one sent, or no success
or no failure anywhere) is not significant.

SciPy computes the distributions. It is imported inside ``compare`` only: a
worker imports this module with the sweep and needs SciPy (about 0.3 s of
CPU and tens of megabytes) only on the rare sweep that decides a test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The significance level: a p-value below it means the variants differ.
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    #: z for two variants (variant 1's rate minus variant 2's, over the pooled standard error), else chi-squared; None when not computable.
    statistic: float | None
    p_value: float | None
    #: The variant with the highest rate, numbered from 1.
    best: int

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def rate(successes: int, trials: int) -> float | None:
    return successes / trials if trials else None


def best_variant(results: Sequence[tuple[int, int]]) -> int:
    """The number (from 1) of the variant with the highest rate; the lowest number among equals."""
    rates = [rate(successes, trials) or 0.0 for successes, trials in results]
    return rates.index(max(rates)) + 1


def compare(results: Sequence[tuple[int, int]]) -> Comparison:
    """Test whether the variants' rates differ; ``results`` holds (successes, trials) per variant, variant 1 first."""
    if not 2 <= len(results) <= 4 or any(not 0 <= successes <= trials for successes, trials in results):
        raise ValueError(f"two to four (successes, trials) pairs with 0 <= successes <= trials expected, not {list(results)}")
    best = best_variant(results)
    successes = sum(s for s, _ in results)
    trials = sum(n for _, n in results)
    if any(n == 0 for _, n in results) or successes in (0, trials):
        return Comparison(statistic=None, p_value=None, best=best)
    if len(results) == 2:
        statistic, p_value = _z_test(results[0], results[1])
    else:
        statistic, p_value = _chi_squared(results)
    return Comparison(statistic=statistic, p_value=p_value, best=best)


def _z_test(first: tuple[int, int], second: tuple[int, int]) -> tuple[float, float]:
    from scipy.stats import norm

    (x1, n1), (x2, n2) = first, second
    pooled = (x1 + x2) / (n1 + n2)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / error
    return z, float(2 * norm.sf(abs(z)))


def _chi_squared(results: Sequence[tuple[int, int]]) -> tuple[float, float]:
    from scipy.stats import chi2_contingency

    table = [[successes, trials - successes] for successes, trials in results]
    found = chi2_contingency(table, correction=False)
    return float(found.statistic), float(found.pvalue)

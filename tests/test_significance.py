"""The subject test's statistics against values worked out by hand from the textbook formulas."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from publisher.ledger.significance import ALPHA, Comparison, compare
from tests.support.paths import PROJECT


def test_two_variants_use_the_pooled_two_proportion_z_test() -> None:
    # 30/100 against 20/100: pooled p = 50/200 = 0.25, SE = sqrt(0.25 * 0.75 * (1/100 + 1/100)) = 0.0612372,
    # z = (0.30 - 0.20) / SE = 1.63299; two-sided p = 2 (1 - Phi(1.633)) = 0.1025 (tables: Phi(1.63) = 0.9484).
    found = compare([(30, 100), (20, 100)])
    assert found.statistic == pytest.approx(1.6329932, abs=1e-6)
    assert found.p_value == pytest.approx(0.1024704, abs=1e-6)
    assert not found.significant and found.best == 1


def test_z_is_signed_variant_1_minus_variant_2_and_a_large_one_is_significant() -> None:
    # 1/10 against 10/10: pooled 0.55, SE = sqrt(0.55 * 0.45 * 0.2) = 0.222486, z = -0.9 / SE = -4.0452.
    found = compare([(1, 10), (10, 10)])
    assert found.statistic == pytest.approx(-4.0451992, abs=1e-6)
    assert found.p_value == pytest.approx(5.2279e-5, rel=1e-3)
    assert found.significant and found.best == 2


def test_three_variants_use_chi_squared_with_two_degrees_of_freedom() -> None:
    # 10, 20, 30 of 100 each: expected 20 successes and 80 failures per row;
    # chi2 = 2 * 10^2/20 + 2 * 10^2/80 = 12.5; with 2 degrees of freedom p = exp(-12.5 / 2) = 0.0019305.
    found = compare([(10, 100), (20, 100), (30, 100)])
    assert found.statistic == pytest.approx(12.5)
    assert found.p_value == pytest.approx(math.exp(-6.25))
    assert found.significant and found.best == 3


def test_four_variants_use_chi_squared_with_three_degrees_of_freedom() -> None:
    # 10, 10, 10, 30 of 100: expected 15 and 85 per row; chi2 = (3 * 25 + 225)/15 + (3 * 25 + 225)/85 = 23.5294;
    # with 3 degrees of freedom p = erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2).
    x = 20 + 300 / 85
    found = compare([(10, 100), (10, 100), (10, 100), (30, 100)])
    assert found.statistic == pytest.approx(x)
    assert found.p_value == pytest.approx(math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2))
    assert found.best == 4


def test_for_two_variants_chi_squared_would_be_z_squared() -> None:
    from scipy.stats import chi2_contingency

    found = compare([(30, 100), (20, 100)])
    assert found.statistic is not None
    table = chi2_contingency([[30, 70], [20, 80]], correction=False)
    assert float(table.statistic) == pytest.approx(found.statistic**2)
    assert float(table.pvalue) == pytest.approx(found.p_value)


def test_alpha_is_five_percent_and_a_p_value_of_exactly_alpha_is_not_significant() -> None:
    assert ALPHA == 0.05
    assert not Comparison(statistic=1.96, p_value=0.05, best=1).significant
    assert Comparison(statistic=1.97, p_value=0.0499, best=1).significant


@pytest.mark.parametrize(
    "results",
    [
        [(0, 0), (3, 10)],  # a variant no one was sent
        [(0, 10), (0, 10)],  # no one opened
        [(10, 10), (10, 10)],  # everyone opened
    ],
)
def test_figures_that_cannot_be_compared_are_not_significant(results: list[tuple[int, int]]) -> None:
    found = compare(results)
    assert (found.statistic, found.p_value, found.significant) == (None, None, False)


def test_the_best_variant_is_the_highest_rate_and_the_lower_number_on_a_tie() -> None:
    assert compare([(5, 10), (5, 10), (2, 10)]).best == 1
    assert compare([(2, 10), (5, 10), (5, 10)]).best == 2


@pytest.mark.parametrize("results", [[(1, 10)], [(1, 10)] * 5, [(11, 10), (1, 10)], [(-1, 10), (1, 10)]])
def test_malformed_figures_are_refused(results: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="two to four"):
        compare(results)


def test_the_workers_load_scipy_only_to_decide_a_test() -> None:
    code = "import sys, workers.sweeper, workers.tasks, publisher.ledger.subject_tests; print('scipy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(PROJECT)}
    )
    assert result.stdout.strip() == "False"

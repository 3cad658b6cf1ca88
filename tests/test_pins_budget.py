"""Pins of RetryBudget's validation that the rest of the suite left loose (issue 11).

- ``token_ratio`` may equal ``max_tokens`` (one success refills one failure).
- A refused value's message states the bound that applies to that argument:
  ``> 0`` for the bucket and the ratio, ``>= 0`` for the floor.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from resilient_transport import RetryBudget


def test_a_token_ratio_equal_to_max_tokens_is_accepted() -> None:
    budget = RetryBudget(max_tokens=2.0, token_ratio=2.0, min_retries_per_second=0)
    assert (budget.max_tokens, budget.token_ratio) == (2.0, 2.0)
    budget.record_failure()
    budget.record_failure()
    assert budget.tokens == 0.0
    budget.record_success()
    assert budget.tokens == 2.0


def test_a_token_ratio_just_above_max_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match=r"token_ratio=2\.5 and max_tokens=2\.0"):
        RetryBudget(max_tokens=2.0, token_ratio=2.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": -1}, "max_tokens must be a finite number > 0, got -1"),
        ({"token_ratio": 0}, "token_ratio must be a finite number > 0, got 0"),
        (
            {"min_retries_per_second": -1},
            "min_retries_per_second must be a finite number >= 0, got -1",
        ),
        (
            {"min_retries_per_second": float("nan")},
            "min_retries_per_second must be a finite number >= 0, got nan",
        ),
    ],
)
def test_a_refused_value_is_named_with_the_bound_that_applies(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RetryBudget(**kwargs)


def test_a_zero_floor_is_accepted() -> None:
    assert RetryBudget(min_retries_per_second=0).min_retries_per_second == 0.0

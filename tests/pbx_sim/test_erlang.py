"""Erlang B and C against published table values and their defining identities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_sim.erlang import erlang_b, erlang_c, erlang_c_asa


@pytest.mark.parametrize(
    ("offered", "channels", "expected"),
    [
        # Classic Erlang B table values (offered Erlangs for a grade of service).
        (20.337, 30, 0.01),
        (24.802, 30, 0.05),
        (1.0, 1, 0.5),
        (2.0, 2, 0.4),
        (0.0, 5, 0.0),
    ],
)
def test_erlang_b_matches_the_tables(offered: float, channels: int, expected: float) -> None:
    assert erlang_b(offered, channels) == pytest.approx(expected, rel=2e-3, abs=1e-12)


def test_erlang_b_at_25_erlangs_on_an_e1() -> None:
    assert erlang_b(25.0, 30) == pytest.approx(0.0529, abs=5e-4)


def test_erlang_c_two_agents_closed_form() -> None:
    # M/M/2 with A = 1: P(wait) = A^2 / (A^2 + 2 (2 - A)) ... = 1/3
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3)
    # ASA = P(wait) * h / (N - A)
    assert erlang_c_asa(1.0, 2, 60.0) == pytest.approx(20.0)


def test_erlang_c_overload_and_empty() -> None:
    assert erlang_c(12.0, 12) == 1.0
    assert math.isinf(erlang_c_asa(12.5, 12, 60.0))
    assert erlang_c(0.0, 3) == 0.0


@given(st.floats(0.01, 200.0), st.integers(1, 300))
def test_erlang_b_is_a_probability_decreasing_in_channels(offered: float, channels: int) -> None:
    b = erlang_b(offered, channels)
    assert 0.0 <= b <= 1.0
    assert erlang_b(offered, channels + 1) <= b


@given(st.floats(0.01, 50.0), st.integers(1, 100))
def test_erlang_c_is_at_least_erlang_b(offered: float, agents: int) -> None:
    if offered < agents:
        assert erlang_b(offered, agents) <= erlang_c(offered, agents) <= 1.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        erlang_b(-1.0, 3)

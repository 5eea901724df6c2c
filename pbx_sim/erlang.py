"""Telephone traffic theory: what the trunk simulator's measurements are compared with.

* Erlang B: the probability that a call finds all ``channels`` busy (and is lost) when
  ``offered`` Erlangs arrive as a Poisson stream; holding times may have any distribution.
* Erlang C: with ``agents`` servers and an infinite, patient queue, the probability
  that a call has to wait at all, and the mean wait (ASA), for exponential handle times.

Both use the numerically stable recurrences (no factorials), so they work for thousands
of channels.
"""

from __future__ import annotations

import math


def erlang_b(offered: float, channels: int) -> float:
    """Blocking probability: B(0) = 1; B(n) = A·B(n-1) / (n + A·B(n-1))."""
    if offered < 0 or channels < 0:
        raise ValueError("offered load and channels must be >= 0")
    blocking = 1.0
    for n in range(1, channels + 1):
        blocking = offered * blocking / (n + offered * blocking)
    return blocking


def erlang_c(offered: float, agents: int) -> float:
    """Probability of waiting; 1.0 when the load reaches the number of agents."""
    if agents <= 0 or offered >= agents:
        return 1.0
    if offered <= 0:
        return 0.0
    b = erlang_b(offered, agents)
    return agents * b / (agents - offered * (1 - b))


def erlang_c_asa(offered: float, agents: int, handle_s: float) -> float:
    """Mean wait of all calls (answered ones, none abandon); infinite when overloaded."""
    if agents <= 0 or offered >= agents:
        return math.inf
    return erlang_c(offered, agents) * handle_s / (agents - offered)


def erlang_b_standard_error(blocking: float, offered_calls: int) -> float:
    """Binomial standard error of a blocking fraction measured over ``offered_calls``.

    Successive calls are positively correlated in a loss system, so the true error is
    somewhat larger; tests use a wide multiple of it or batch means.
    """
    if offered_calls <= 0:
        return math.inf
    return math.sqrt(max(blocking * (1 - blocking), 1e-12) / offered_calls)

"""Random callers: Poisson arrivals, holding times, patience and where they dial.

Every draw comes from the ``random.Random`` passed in, so a seed reproduces a run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Holding = Literal["exp", "fixed", "lognormal"]
LOGNORMAL_CV = 1.0  # coefficient of variation of lognormal holding times


@dataclass(frozen=True, slots=True)
class Callers:
    rate: float  # calls per second, Poisson
    hold_s: float  # mean holding (talk) time
    holding: Holding = "exp"
    patience_s: float | None = None  # mean, exponential; None = callers never hang up
    numbers: Sequence[tuple[str, float]] = (("5000", 1.0),)  # dialled number, weight

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 calls/s, got {self.rate}")
        if not self.hold_s > 0:
            raise ValueError(f"hold must be > 0 s, got {self.hold_s}")
        if self.patience_s is not None and not self.patience_s > 0:
            raise ValueError(f"patience must be > 0 s, got {self.patience_s}")
        if self.holding not in ("exp", "fixed", "lognormal"):
            raise ValueError(f"holding must be exp, fixed or lognormal, not {self.holding!r}")
        if not self.numbers or any(w <= 0 for _, w in self.numbers):
            raise ValueError("numbers need positive weights")

    @property
    def offered_erlangs(self) -> float:
        return self.rate * self.hold_s

    def interarrival(self, rng: random.Random) -> float:
        return rng.expovariate(self.rate)

    def hold(self, rng: random.Random) -> float:
        if self.holding == "fixed":
            return self.hold_s
        if self.holding == "lognormal":
            sigma2 = math.log(1 + LOGNORMAL_CV**2)
            return rng.lognormvariate(math.log(self.hold_s) - sigma2 / 2, math.sqrt(sigma2))
        return rng.expovariate(1 / self.hold_s)

    def patience(self, rng: random.Random) -> float | None:
        return None if self.patience_s is None else rng.expovariate(1 / self.patience_s)

    def number(self, rng: random.Random) -> str:
        return rng.choices([n for n, _ in self.numbers], [w for _, w in self.numbers])[0]

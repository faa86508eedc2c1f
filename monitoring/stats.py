"""The statistics under every drift figure: intervals for rates and paired differences, and an
anytime-valid sequential test on discordant pairs.

Why a sequential test: Prometheus reads the verdict every 15 seconds, forever. A fixed-sample
test (McNemar, a z-test) re-run at every read rejects a true null far more often than its level.
The normal-mixture e-value below is a nonnegative supermartingale under "no drift", so by
Ville's inequality P(ever E >= 1/alpha) <= alpha, however often it is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(slots=True)
class PairedTable:
    """Paired binary outcomes for the same prompts answered by the tuned and the base model."""

    both: int = 0
    tuned_only: int = 0
    base_only: int = 0
    neither: int = 0

    def add(self, tuned: bool, base: bool, count: int = 1) -> None:
        if tuned and base:
            self.both += count
        elif tuned:
            self.tuned_only += count
        elif base:
            self.base_only += count
        else:
            self.neither += count

    def merge(self, other: PairedTable) -> None:
        self.both += other.both
        self.tuned_only += other.tuned_only
        self.base_only += other.base_only
        self.neither += other.neither

    @property
    def n(self) -> int:
        return self.both + self.tuned_only + self.base_only + self.neither

    @property
    def discordant(self) -> int:
        return self.tuned_only + self.base_only

    @property
    def tuned_rate(self) -> float:
        return (self.both + self.tuned_only) / self.n if self.n else math.nan

    @property
    def base_rate(self) -> float:
        return (self.both + self.base_only) / self.n if self.n else math.nan


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; sensible at 0, n and small n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lower = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the edges, no rounding dust
    upper = 1.0 if k == n else min(1.0, centre + half)
    return (lower, upper)


def paired_difference(table: PairedTable, z: float = Z95) -> tuple[float, float, float]:
    """tuned rate - base rate with Newcombe's (1998, method 10) interval for paired proportions.

    It combines the two Wilson intervals with the pairs' correlation, so it stays inside
    [-1, 1] and keeps its coverage near 0 and 1 where Wald intervals fail.
    """
    n = table.n
    if n == 0:
        return (math.nan, -1.0, 1.0)
    a, b, c, d = table.both, table.tuned_only, table.base_only, table.neither
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    spread = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(spread) if spread else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return (diff, max(-1.0, diff - delta), min(1.0, diff + eps))


def log_evalue(tuned_only: int, base_only: int, rho: float) -> float:
    """log E for the normal-mixture test on discordant pairs (two-sided).

    Under "no drift" each discordant pair is tuned-only or base-only with probability 1/2, so
    S = tuned_only - base_only is a sum of n fair +-1 steps (1-sub-Gaussian) and
    E = (1 + rho n)^(-1/2) exp(rho S^2 / (2 (1 + rho n))) is a test supermartingale.
    Needs only arithmetic, so a Prometheus recording rule computes the same thing fleet-wide.
    """
    n = tuned_only + base_only
    s = tuned_only - base_only
    return -0.5 * math.log1p(rho * n) + rho * s * s / (2.0 * (1.0 + rho * n))


def mixture_rho(target_pairs: int, alpha: float) -> float:
    """The mixture variance that makes the boundary tightest near `target_pairs` discordant
    pairs (Howard et al., 2021, time-uniform Chernoff bounds, eq. for the normal mixture)."""
    two_log = -2.0 * math.log(alpha)
    return (two_log + math.log1p(two_log)) / target_pairs


def alarm_threshold(alpha: float, family_size: int) -> float:
    """log(family_size / alpha): Ville's bound per test, Bonferroni across the family, so the
    chance of any false alarm among `family_size` category x metric tests stays <= alpha."""
    return math.log(family_size / alpha)

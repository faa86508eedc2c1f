"""Monte-Carlo checks of the drift test: false alarms under "no drift", time to detect a real
drift, and why a fixed-sample test re-run at every scrape is not an option.

`python -m tunewatch.monitoring.simulate` prints the figures quoted in docs/statistics.md;
the test suite runs the same functions at smaller sizes.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from tunewatch.monitoring.drift import DriftSettings


@dataclass(frozen=True, slots=True)
class Joint:
    """Probabilities of (tuned positive, base positive) for one paired answer."""

    both: float
    tuned_only: float
    base_only: float

    @property
    def neither(self) -> float:
        return 1.0 - self.both - self.tuned_only - self.base_only


def independent(tuned: float, base: float) -> Joint:
    return Joint(tuned * base, tuned * (1 - base), (1 - tuned) * base)


def nested(tuned: float, base: float) -> Joint:
    """Maximal agreement: the model with the lower rate is positive only where the other is."""
    low = min(tuned, base)
    return Joint(low, max(0.0, tuned - base), max(0.0, base - tuned))


def _steps(rng: np.random.Generator, joint: Joint, runs: int, looks: int) -> np.ndarray:
    """+1 tuned-only, -1 base-only, 0 concordant, one pair per look."""
    u = rng.random((runs, looks), dtype=np.float32)
    steps = np.zeros((runs, looks), dtype=np.int8)
    steps[u < joint.tuned_only] = 1
    steps[(u >= joint.tuned_only) & (u < joint.tuned_only + joint.base_only)] = -1
    return steps


def _log_e(steps: np.ndarray, rho: float) -> np.ndarray:
    n = np.cumsum(np.abs(steps), axis=1, dtype=np.int32).astype(np.float64)
    s = np.cumsum(steps, axis=1, dtype=np.int32).astype(np.float64)
    result: np.ndarray = -0.5 * np.log1p(rho * n) + rho * s * s / (2.0 * (1.0 + rho * n))
    return result


def false_alarm_rate(
    settings: DriftSettings,
    categories: int,
    looks: int,
    runs: int,
    discordance: float = 0.3,
    seed: int = 0,
) -> float:
    """P(any category ever alarms within `looks` pairs) when tuned and base behave alike."""
    rng = np.random.default_rng(seed)
    joint = Joint(0.5 - discordance / 2, discordance / 2, discordance / 2)
    any_alarm = np.zeros(runs, dtype=bool)
    for _ in range(categories):
        log_e = _log_e(_steps(rng, joint, runs, looks), settings.rho)
        any_alarm |= (log_e >= settings.threshold).any(axis=1)
    return float(any_alarm.mean())


def naive_false_alarm_rate(
    alpha: float, categories: int, looks: int, runs: int, discordance: float = 0.3, seed: int = 0
) -> float:
    """The same, for McNemar's z-test (Bonferroni across categories) re-run at every look."""
    rng = np.random.default_rng(seed)
    joint = Joint(0.5 - discordance / 2, discordance / 2, discordance / 2)
    z = NormalDist().inv_cdf(1 - alpha / (2 * categories))
    any_alarm = np.zeros(runs, dtype=bool)
    for _ in range(categories):
        steps = _steps(rng, joint, runs, looks)
        n = np.cumsum(np.abs(steps), axis=1, dtype=np.int32).astype(np.float64)
        s = np.cumsum(steps, axis=1, dtype=np.int32).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = np.where(n > 0, np.abs(s) / np.sqrt(n), 0.0)
        any_alarm |= (stat >= z).any(axis=1)
    return float(any_alarm.mean())


def pairs_to_alarm(
    settings: DriftSettings, joint: Joint, runs: int, max_pairs: int, seed: int = 0
) -> np.ndarray:
    """Pairs needed until the alarm fires, per run (max_pairs + 1 where it never did)."""
    rng = np.random.default_rng(seed)
    log_e = _log_e(_steps(rng, joint, runs, max_pairs), settings.rho)
    hit = log_e >= settings.threshold
    first: np.ndarray = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, max_pairs + 1)
    return first


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--looks", type=int, default=10_000)
    args = parser.parse_args(argv)
    settings = DriftSettings(alpha=0.01, family_size=38, target_pairs=100)
    print(f"alpha={settings.alpha} family={settings.family_size} rho={settings.rho:.4f} "
          f"threshold(log E)={settings.threshold:.3f}")  # fmt: skip
    family10 = DriftSettings(alpha=0.05, family_size=10, target_pairs=100)
    fa = false_alarm_rate(family10, 10, args.looks, args.runs)
    naive = naive_false_alarm_rate(0.05, 10, args.looks, args.runs)
    print(f"no drift, 10 categories, {args.looks} looks, {args.runs} runs, alpha=0.05:")
    print(f"  mixture e-value: P(any false alarm) = {fa:.4f}")
    print(f"  McNemar re-run at every look: P(any false alarm) = {naive:.4f}")
    print("80% -> 70% refusal (10-point drop), pairs until alarm (alpha=0.01, family 38):")
    for name, joint in (("independent answers", independent(0.7, 0.8)),
                        ("nested answers", nested(0.7, 0.8))):  # fmt: skip
        first = pairs_to_alarm(settings, joint, args.runs, 20_000)
        q = np.percentile(first, [10, 50, 90])
        print(f"  {name:20s} discordant share {joint.tuned_only + joint.base_only:.2f}: "
              f"median {q[1]:.0f} pairs (10%: {q[0]:.0f}, 90%: {q[2]:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()

"""A synthetic but realistic labelled dataset for the risk model.

Each row is one card payment attempt described by the features of ``schemas.risk``
(``FEATURE_NAMES`` order); the label says whether it turned out fraudulent. The same
``(samples, seed)`` always gives the same rows (``numpy.random.default_rng(seed)``).

The generative story
--------------------
*Label.* Each payment is fraudulent with probability ``FRAUD_RATE`` (2 %), independently.

*Legitimate payments* come from customers who mostly behave like themselves:

- 6 % are a customer's first payment (``new_customer``); another 8 % come from customers with
  a single earlier payment. With fewer than 2 past payments there is no spread to compare
  with, so ``amount_zscore`` is 0 for both.
- Otherwise the amount's z-score against the customer's history is Student-t (5 degrees of
  freedom, heavier tails than a normal: people do buy unusual things), and 3 % are *legit
  outliers*: a big-ticket purchase 3 standard deviations (± 1.2) above their usual.
- Each customer has a typical amount, log-normal around 35.00 (sigma 0.9); the payments of
  the last hour number Poisson(0.25) (2 % are *bursty* legit customers, Poisson(4): tickets,
  top-ups), each near the typical amount, summed in integer minor units.
- The card's country differs from the IP's in 4 % (travel, VPNs).
- Hours (UTC) follow a daytime curve peaking at 15:00 (von Mises-like weights).
- Failed attempts in 24 h are Poisson(0.08), and 2 % fumble their card details (Poisson(2)).

*Fraudulent payments* follow one of three patterns:

- **card testing** (35 %): mostly new customers (70 %), small amounts (log-normal around
  15.00), bursts of attempts (Poisson(5) in the last hour), many failed attempts (Poisson(2.5)),
  country mismatch 45 %, night hours (a curve peaking at 03:00 UTC);
- **account takeover** (30 %): an existing customer's account (5 % new), amounts far above
  the customer's usual (z-score 3.2 ± 1.5), some velocity (Poisson(1.5)), country mismatch
  55 %, night hours, Poisson(0.8) failed attempts;
- **quiet fraud** (35 %): made to look ordinary: z-score 1.0 ± 1.2, Poisson(0.8) velocity,
  35 % new, 25 % country mismatch, daytime hours, Poisson(0.4) failed attempts.

The distributions overlap on purpose (legit outliers, bursty or travelling legit customers,
quiet fraud), so the task is learnable but not trivial: a good model reaches a ROC AUC around
0.9-0.97, not 1.0, and cannot catch the quiet fraud without blocking good customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.risk import FEATURE_NAMES
from schemas.risk import RiskFeatures

FRAUD_RATE = 0.02

# Column indices, FEATURE_NAMES order.
_Z, _VCOUNT, _VAMOUNT, _NEW, _MISMATCH, _HOUR, _FAILED = range(len(FEATURE_NAMES))
_HOURS = np.arange(24)


@dataclass(frozen=True)
class SyntheticDataset:
    rows: np.ndarray  # shape (samples, len(FEATURE_NAMES)), float64
    labels: np.ndarray  # shape (samples,), int8: 1 = fraud
    seed: int

    @property
    def fraud_rate(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else 0.0

    def features(self, index: int) -> RiskFeatures:
        """Row ``index`` as the contract the fraud check builds."""
        row = self.rows[index]
        return RiskFeatures(
            amount_zscore=float(row[_Z]),
            velocity_count_1h=int(row[_VCOUNT]),
            velocity_amount_1h=int(row[_VAMOUNT]),
            new_customer=bool(row[_NEW]),
            country_mismatch=bool(row[_MISMATCH]),
            hour_of_day=int(row[_HOUR]),
            failed_attempts_24h=int(row[_FAILED]),
        )


def _hour_weights(peak: float, concentration: float) -> np.ndarray:
    weights = np.exp(concentration * np.cos(2 * np.pi * (_HOURS - peak) / 24))
    return weights / weights.sum()


_DAY = _hour_weights(peak=15, concentration=1.3)
_NIGHT = _hour_weights(peak=3, concentration=1.1)


def _velocity_amount(
    rng: np.random.Generator, counts: np.ndarray, typical_minor: np.ndarray
) -> np.ndarray:
    """Sum of ``counts`` payments near each customer's typical amount, integer minor units."""
    spread = rng.lognormal(mean=0.0, sigma=0.3, size=len(counts))
    return np.rint(counts * typical_minor * spread).astype(np.int64)


def _legit(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.zeros((n, len(FEATURE_NAMES)))
    new = rng.random(n) < 0.06
    short_history = ~new & (rng.random(n) < 0.08)
    z = rng.standard_t(df=5, size=n)
    outlier = rng.random(n) < 0.03
    z = np.where(outlier, rng.normal(3.0, 1.2, size=n), z)
    z = np.where(new | short_history, 0.0, z)
    typical = rng.lognormal(mean=np.log(3500), sigma=0.9, size=n)
    bursty = rng.random(n) < 0.02
    counts = np.where(bursty, rng.poisson(4.0, size=n), rng.poisson(0.25, size=n))
    fumbled = rng.random(n) < 0.02
    rows[:, _Z] = z
    rows[:, _VCOUNT] = counts
    rows[:, _VAMOUNT] = _velocity_amount(rng, counts, typical)
    rows[:, _NEW] = new
    rows[:, _MISMATCH] = rng.random(n) < 0.04
    rows[:, _HOUR] = rng.choice(24, size=n, p=_DAY)
    rows[:, _FAILED] = np.where(fumbled, rng.poisson(2.0, size=n), rng.poisson(0.08, size=n))
    return rows


# Per fraud pattern: card testing, account takeover, quiet fraud.
_PATTERN_SHARE = (0.35, 0.30, 0.35)
_P_NEW = np.array([0.70, 0.05, 0.35])
_Z_MEAN = np.array([-0.5, 3.2, 1.0])
_Z_SD = np.array([1.0, 1.5, 1.2])
_TYPICAL_MINOR = np.array([1500.0, 6000.0, 3500.0])
_VELOCITY = np.array([5.0, 1.5, 0.8])
_P_MISMATCH = np.array([0.45, 0.55, 0.25])
_FAILED_MEAN = np.array([2.5, 0.8, 0.4])
_NIGHT_HOURS = np.array([True, True, False])


def _fraud(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.zeros((n, len(FEATURE_NAMES)))
    pattern = rng.choice(3, size=n, p=_PATTERN_SHARE)
    new = rng.random(n) < _P_NEW[pattern]
    z = rng.normal(_Z_MEAN[pattern], _Z_SD[pattern])
    typical = rng.lognormal(mean=np.log(_TYPICAL_MINOR[pattern]), sigma=1.0)
    counts = rng.poisson(_VELOCITY[pattern])
    night = rng.choice(24, size=n, p=_NIGHT)
    day = rng.choice(24, size=n, p=_DAY)
    rows[:, _Z] = np.where(new, 0.0, z)
    rows[:, _VCOUNT] = counts
    rows[:, _VAMOUNT] = _velocity_amount(rng, counts, typical)
    rows[:, _NEW] = new
    rows[:, _MISMATCH] = rng.random(n) < _P_MISMATCH[pattern]
    rows[:, _HOUR] = np.where(_NIGHT_HOURS[pattern], night, day)
    rows[:, _FAILED] = rng.poisson(_FAILED_MEAN[pattern])
    return rows


def generate(samples: int, seed: int, fraud_rate: float = FRAUD_RATE) -> SyntheticDataset:
    """``samples`` labelled payments; deterministic for ``seed``."""
    if samples < 0:
        raise ValueError("samples must be >= 0")
    rng = np.random.default_rng(seed)
    labels = (rng.random(samples) < fraud_rate).astype(np.int8)
    fraud = labels.astype(bool)
    rows = np.empty((samples, len(FEATURE_NAMES)))
    rows[~fraud] = _legit(rng, int((~fraud).sum()))
    rows[fraud] = _fraud(rng, int(fraud.sum()))
    rows[:, _Z] = np.clip(rows[:, _Z], -6.0, 12.0).round(3)
    return SyntheticDataset(rows=rows, labels=labels, seed=seed)

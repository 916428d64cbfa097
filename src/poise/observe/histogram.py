"""A fixed-size, mergeable latency histogram with bounded relative error.

Buckets grow geometrically (each ``GAMMA`` times wider than the last) from 1 us to
about 17 minutes, so any quantile read from it is within ``RELATIVE_ACCURACY`` (2%) of
the true sample value, whatever the distribution: the DDSketch construction, with a
fixed range so that the bucket array never grows and two histograms merge by adding
counts. Written here rather than taken from the ``ddsketch`` package because recording
must cost one ``log`` and one list increment on the request path, with no allocation.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["BUCKETS", "GAMMA", "MAX_VALUE", "MIN_VALUE", "RELATIVE_ACCURACY", "LatencyHistogram"]

RELATIVE_ACCURACY: Final = 0.02
GAMMA: Final = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
MIN_VALUE: Final = 1e-6
MAX_VALUE: Final = 1000.0
_INV_LOG_GAMMA: Final = 1.0 / math.log(GAMMA)
_INV_MIN_VALUE: Final = 1.0 / MIN_VALUE
_log = math.log
_ceil = math.ceil
# Bucket 0 holds everything at or below MIN_VALUE; bucket i >= 1 holds
# (MIN_VALUE * GAMMA**(i-1), MIN_VALUE * GAMMA**i]; the last one also everything above.
BUCKETS: Final = math.ceil(math.log(MAX_VALUE / MIN_VALUE) * _INV_LOG_GAMMA) + 1


class LatencyHistogram:
    """Counts of durations (seconds) in geometric buckets, with count, sum and max.

    Memory is fixed (``BUCKETS`` counters) however many values are recorded.
    """

    __slots__ = ("counts", "max", "sum")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.sum = 0.0
        self.max = 0.0

    @property
    def count(self) -> int:
        """How many values were recorded (summed when read, not kept per record)."""
        return sum(self.counts)

    def record(self, seconds: float) -> None:
        """Add one duration. Negative values count as zero, huge ones as ``MAX_VALUE``."""
        if seconds <= MIN_VALUE:
            index = 0
        elif seconds < MAX_VALUE:
            index = _ceil(_log(seconds * _INV_MIN_VALUE) * _INV_LOG_GAMMA)
        else:  # beyond the range, infinity and NaN: the last bucket
            index = BUCKETS - 1
        self.counts[index] += 1
        if seconds > 0.0:
            self.sum += seconds
            if seconds > self.max:
                self.max = seconds

    def merge(self, other: LatencyHistogram) -> None:
        """Add every value recorded in ``other`` to this histogram."""
        counts = self.counts
        for i, n in enumerate(other.counts):
            if n:
                counts[i] += n
        self.sum += other.sum
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 <= q <= 1) within 2% relative error, or ``None`` if empty.

        Raises:
            ValueError: ``q`` is outside [0, 1].
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q!r}")
        count = self.count
        if count == 0:
            return None
        rank = q * (count - 1)
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen > rank:
                return min(_bucket_value(index), self.max)
        return self.max  # pragma: no cover - the loop always returns

    @property
    def mean(self) -> float | None:
        """The exact mean of the recorded values, or ``None`` if empty."""
        count = self.count
        return self.sum / count if count else None


def _bucket_value(index: int) -> float:
    if index == 0:
        return 0.0
    # The point of the bucket whose relative distance to both edges is the same: every
    # value in the bucket is within RELATIVE_ACCURACY of it.
    upper = MIN_VALUE * GAMMA**index
    return 2.0 * upper / (1.0 + GAMMA)

"""Per-person question limits: ``CITEBOT_RATE_LIMIT`` (e.g. ``10/minute``) per platform and user.

The counting is the ``limits`` package's moving window in memory: each replica limits the people
it serves, and a burst cannot slip through at a fixed window's edge.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from index.errors import QuestionError

OFF = ("", "0", "off", "none")


def parse_rate(text: str | None) -> RateLimitItem | None:
    """``"10/minute"`` (anything ``limits`` reads: ``5 per second``, ``100/hour``) as a limit;
    ``None`` for off (empty, ``0``, ``off``). Raises ValueError for anything else."""
    value = (text or "").strip().lower()
    if value in OFF:
        return None
    try:
        rate = parse(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate like 10/minute") from None
    if rate.amount < 1:
        return None
    return rate


def describe(rate: RateLimitItem) -> str:
    """``10 questions a minute``, for the message people see."""
    unit = rate.GRANULARITY.name
    article = "an" if unit == "hour" else "a"
    per = f"every {rate.multiples} {unit}s" if rate.multiples > 1 else f"{article} {unit}"
    noun = "question" if rate.amount == 1 else "questions"
    return f"{rate.amount} {noun} {per}"


class RateLimited(QuestionError):
    """Over the per-person limit. A QuestionError, so every adapter shows the message as it is."""

    def __init__(self, rate: RateLimitItem, retry_in: float):
        self.retry_in = max(1, math.ceil(retry_in))
        wait = f"{self.retry_in} seconds" if self.retry_in != 1 else "a second"
        super().__init__(
            f"You're asking faster than CiteBot answers ({describe(rate)} each); "
            f"please try again in {wait}."
        )


class QuestionLimiter:
    def __init__(self, rate: RateLimitItem):
        self.rate = rate
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_setting(cls, text: str | None) -> QuestionLimiter | None:
        rate = parse_rate(text)
        return cls(rate) if rate is not None else None

    def check(self, platform: str, user: str) -> None:
        """Count one question from ``user``; raise :class:`RateLimited` when over the limit
        (a refused question is not counted, so waiting is always enough)."""
        if self._limiter.hit(self.rate, platform, user):
            return
        stats = self._limiter.get_window_stats(self.rate, platform, user)
        raise RateLimited(self.rate, stats.reset_time - time.time())

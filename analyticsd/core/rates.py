"""A per-second event counter over the last minute (for status)."""

from __future__ import annotations

WINDOW_S = 60


class RateMeter:
    def __init__(self) -> None:
        self._counts = [0] * WINDOW_S
        self._stamps = [-1] * WINDOW_S
        self.total = 0

    def add(self, n: int, now_s: float) -> None:
        sec = int(now_s)
        i = sec % WINDOW_S
        if self._stamps[i] != sec:
            self._stamps[i], self._counts[i] = sec, 0
        self._counts[i] += n
        self.total += n

    def per_second(self, now_s: float) -> float:
        """Average over the last full minute (the current second excluded)."""
        sec = int(now_s)
        total = sum(
            c for c, s in zip(self._counts, self._stamps, strict=True) if sec - WINDOW_S <= s < sec
        )
        return total / WINDOW_S

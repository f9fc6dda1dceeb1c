"""How many events one aggregator flush may carry (pure).

A flush is one SQLite transaction: its pages go to the WAL first, then into
the database file, so while it runs it needs free disk for itself on top of
what the database grows by. On a disk with a few MB free, a flush of a large
backlog does not fit, and trying it again as a whole fails again. So a
failed flush makes the next ones a tenth its size (down to `floor`); after
GROW_AFTER flushes in a row have succeeded at the limit it doubles (up to
`ceiling`), so a disk with room again goes back to large, efficient flushes,
and one still tight does not fail every other flush.
"""

from __future__ import annotations

from dataclasses import dataclass

SHRINK = 10
GROW = 2
GROW_AFTER = 4


@dataclass
class FlushLimit:
    ceiling: int
    floor: int
    value: int = 0
    streak: int = 0  # flushes in a row that succeeded at the limit

    def __post_init__(self) -> None:
        self.value = self.value or self.ceiling

    @property
    def reduced(self) -> bool:
        return self.value < self.ceiling

    def room(self, pending: int) -> int:
        """How many more events may be counted before the flush is due (≥ 1)."""
        return max(self.value - pending, 1)

    def failed(self, n_events: int) -> bool:
        """A flush of `n_events` failed. True when a smaller one should be
        tried at once; False when it was at the floor already (then the
        same flush is tried again after a pause)."""
        self.streak = 0
        if n_events <= self.floor:
            return False
        self.value = max(self.floor, min(self.value, n_events) // SHRINK)
        return True

    def succeeded(self, n_events: int) -> None:
        """A flush of `n_events` committed."""
        if n_events < self.value or not self.reduced:
            return  # a flush by the clock says nothing about a larger one
        self.streak += 1
        if self.streak >= GROW_AFTER:
            self.value, self.streak = min(self.ceiling, self.value * GROW), 0

"""Actor heartbeats for the systemd watchdog.

Every actor beats at least every HEARTBEAT_S while it is alive, also when it
has nothing to do (its waits are bounded by that). The watchdog pings systemd
only while every registered actor beat recently, so one stuck actor (a hung
thread call, a deadlock) gets the service restarted even though the event
loop itself still runs. Time is passed in (trio's clock in the daemon).
"""

from __future__ import annotations

from collections.abc import Callable

HEARTBEAT_S = 1.0


class Heartbeats:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[str, float | None] = {}
        self._started: float | None = None

    def register(self, name: str) -> Callable[[], None]:
        """A beat callable for one actor (callable only once the clock runs)."""
        last = self._last
        clock = self._clock
        last[name] = None

        def beat() -> None:
            last[name] = clock()

        return beat

    def unregister(self, name: str) -> None:
        self._last.pop(name, None)

    def start(self) -> None:
        """Actors that have not beaten yet count from now."""
        self._started = self._clock()

    def stale(self, max_age_s: float) -> list[str]:
        """Actors that have not beaten for longer than `max_age_s`."""
        now = self._clock()
        start = now if self._started is None else self._started
        return sorted(
            name
            for name, at in self._last.items()
            if now - (start if at is None else at) > max_age_s
        )


def no_beat() -> None:
    """For actors run without a watchdog (tests, tools)."""

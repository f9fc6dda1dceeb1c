"""Health of the link to the canonical store, as data: states, a transition
table, exponential backoff with jitter, and a pacer for draining a backlog.

Pure: the forwarder and the hub feed it what happened (a probe or a send that
succeeded or failed) with the time, and it says what state the link is in,
since when, and how long to wait before the next attempt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from analyticsd.core.errors import InvalidTransition


class LinkState(enum.StrEnum):
    STARTING = "starting"  # no probe answered yet
    HEALTHY = "healthy"
    UNREACHABLE = "unreachable"


class Outcome(enum.Enum):
    PROBE_OK = enum.auto()
    PROBE_FAILED = enum.auto()
    SEND_OK = enum.auto()
    SEND_FAILED = enum.auto()


# (state, outcome) → next state. A send is only attempted while healthy: a
# send outcome in another state is a bug, and `Link.on` raises on it.
TRANSITIONS: dict[tuple[LinkState, Outcome], LinkState] = {
    (LinkState.STARTING, Outcome.PROBE_OK): LinkState.HEALTHY,
    (LinkState.STARTING, Outcome.PROBE_FAILED): LinkState.UNREACHABLE,
    (LinkState.HEALTHY, Outcome.PROBE_OK): LinkState.HEALTHY,
    (LinkState.HEALTHY, Outcome.PROBE_FAILED): LinkState.UNREACHABLE,
    (LinkState.HEALTHY, Outcome.SEND_OK): LinkState.HEALTHY,
    (LinkState.HEALTHY, Outcome.SEND_FAILED): LinkState.UNREACHABLE,
    (LinkState.UNREACHABLE, Outcome.PROBE_OK): LinkState.HEALTHY,
    (LinkState.UNREACHABLE, Outcome.PROBE_FAILED): LinkState.UNREACHABLE,
}

_FAILURES = frozenset({Outcome.PROBE_FAILED, Outcome.SEND_FAILED})


def backoff_s(failures: int, base_s: float, cap_s: float, rand01: float) -> float:
    """Delay before attempt number `failures` + 1: doubling from `base_s`, at
    most `cap_s`, scaled into [50%, 100%] by `rand01` so that many edges that
    lost the same Redis do not all come back in the same instant."""
    if failures <= 0:
        return base_s
    ceiling = min(cap_s, base_s * 2.0 ** min(failures - 1, 30))
    return ceiling * (0.5 + 0.5 * rand01)


@dataclass
class Link:
    state: LinkState = LinkState.STARTING
    since_ms: int = 0
    # Consecutive failures; reset by any success.
    failures: int = 0
    last_error: str = ""

    def on(self, outcome: Outcome, now_ms: int, error: str = "") -> bool:
        """Apply an outcome; True when the state changed."""
        nxt = TRANSITIONS.get((self.state, outcome))
        if nxt is None:
            raise InvalidTransition(f"{outcome.name} cannot happen while {self.state}")
        if outcome in _FAILURES:
            self.failures += 1
            self.last_error = error
        else:
            self.failures = 0
        changed = nxt is not self.state
        if changed:
            self.state, self.since_ms = nxt, now_ms
        return changed


class Pacer:
    """Token bucket: at most `rate` events per second on average, in bursts
    of at most one second's worth. rate 0 means no bound."""

    def __init__(self, rate: int, now_s: float) -> None:
        self.rate = rate
        self._tokens = float(rate)
        self._at = now_s

    def wait_s(self, n: int, now_s: float) -> float:
        """Take `n` tokens; how long to wait before sending them."""
        if self.rate <= 0:
            return 0.0
        self._tokens = min(float(self.rate), self._tokens + (now_s - self._at) * self.rate)
        self._at = now_s
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

"""The problems found in one event: every message, so a client fixes them all at once (pure)."""

from __future__ import annotations


class Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, msg: str) -> None:
        self.messages.append(msg)

"""Ported from Plausible's query_test.exs: dimensions, time, order and pagination."""

from __future__ import annotations

from typing import Any

CASES: list[dict[str, Any]] = []

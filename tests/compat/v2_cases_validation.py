"""Ported from Plausible's query_validations_test.exs: rejected queries."""

from __future__ import annotations

from typing import Any

CASES: list[dict[str, Any]] = []

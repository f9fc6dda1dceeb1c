"""Failpoints: kills on the n-th hit, and pauses held while a file exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyticsd.core import faults


def test_a_pause_holds_while_its_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = tmp_path / "hold"
    monkeypatch.setattr(faults, "_armed", faults._parse(f"aggregator.flush_pause:{hold}"))
    assert not faults.held("aggregator.flush_pause")  # no file yet
    hold.touch()
    assert faults.held("aggregator.flush_pause")
    assert not faults.held("aggregator.other")
    hold.unlink()
    assert not faults.held("aggregator.flush_pause")


@pytest.mark.parametrize("spec", ["", "aggregator.flush_pause", "aggregator.flush_pause:3"])
def test_no_pause_without_a_path(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_armed", faults._parse(spec))
    assert not faults.held("aggregator.flush_pause")


def test_a_kill_counts_its_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[int] = []
    monkeypatch.setattr(faults, "_armed", faults._parse("flush.after_commit:3"))
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: kills.append(sig))
    for _ in range(2):
        faults.hit("flush.after_commit")
        faults.hit("flush.before_commit")
    assert kills == []
    faults.hit("flush.after_commit")
    assert len(kills) == 1

"""The import command's progress bar and summary (pure output)."""

from __future__ import annotations

import pytest

from analyticsd.import_command import progress_bar, summary
from analyticsd.storage.plausible_import import ImportResult


def test_no_bar_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    show = progress_bar(tty=False)
    show(5, 10, "imported_pages_20230101_20231231.csv")
    assert capsys.readouterr() == ("", "")


def test_the_bar_is_redrawn_once_per_percent(capsys: pytest.CaptureFixture[str]) -> None:
    show = progress_bar(tty=True)
    for done in (0, 1, 2, 500, 501, 1000):
        show(done, 1000, "zip/imported_pages_20230101_20231231.csv")
    out, err = capsys.readouterr()
    assert out == ""
    frames = err.split("\r")[1:]
    assert [f.split("]")[1].split("%")[0].strip() for f in frames] == ["0", "50", "100"]
    assert frames[-1].startswith("[" + "#" * 30 + "] 100% imported_pages_20230101_20231231.csv")


def test_summary_says_where_the_export_was_cut() -> None:
    r = ImportResult("example.com", 19358, 19400, clamped_from=19722)
    r.rows = {"imported_visitors": 43, "imported_pages": 1000}
    r.visitors, r.pageviews = 1234, 56789
    assert summary(r) == [
        "imported 2023-01-01 to 2023-02-12 for example.com: 56,789 page views, 1,234 visitors "
        "(1,043 rows in 2 files); imported rows of these days from before were replaced",
        "the export runs to 2023-12-31; the days after 2023-02-12 were left out, the site has "
        "live counts from then",
    ]

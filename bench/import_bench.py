"""`make bench-import`: time `analyticsd import plausible` on a generated year.

Writes a Plausible-format export of a year (bench.plausible_export, at least
1M page views), imports it twice through the command line into a fresh data
dir, and checks the second import left the totals as the first did (it
replaces, never adds). Prints the figures; exits non-zero if the totals
moved or an import took longer than the target (2 minutes).

    python -m bench.import_bench [--pageviews N]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.plausible_export import write_export

TARGET_S = 120.0
TIMEOUT_S = 600  # one import, at most


def totals(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {
            "visitors": conn.execute("SELECT sum(visitors) FROM imported_visitors").fetchone()[0],
            "pageviews": conn.execute("SELECT sum(pageviews) FROM imported_visitors").fetchone()[0],
            "page rows pageviews": conn.execute(
                "SELECT sum(pageviews) FROM imported_pages"
            ).fetchone()[0],
        }
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out["rows"] = sum(
            conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0]
            for n in names
            if n.startswith("imported_")
        )
        return out
    finally:
        conn.close()


def run_import(config: Path, export: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "analyticsd", "import", "plausible", "--site", "example.com",
         str(export), "--config", str(config)],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"import failed ({p.returncode}): {p.stderr.strip()}")
    print(f"  {p.stdout.strip()}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pageviews", type=int, default=1_050_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        export = root / "example_com_export.zip"
        t0 = time.perf_counter()
        gen = write_export(str(export), pageviews=a.pageviews)
        print(
            f"export: {gen.pageviews:,} page views, {gen.visitors:,} visitors, {gen.rows:,} rows, "
            f"{export.stat().st_size / 1e6:.1f} MB (generated in {time.perf_counter() - t0:.1f} s)"
        )
        config = root / "analyticsd.toml"
        config.write_text(
            f'[storage]\ndata_dir = "{root / "data"}"\n\n'
            '[[sites]]\nid = "example.com"\norigins = ["https://example.com"]\n'
        )
        first = run_import(config, export)
        after_first = totals(root / "data" / "stats.sqlite3")
        second = run_import(config, export)
        after_second = totals(root / "data" / "stats.sqlite3")
    print(f"first import:  {first:.1f} s ({gen.pageviews / first:,.0f} page views/s)")
    print(f"second import: {second:.1f} s (replaces the first)")
    print(f"totals after the first:  {after_first}")
    print(f"totals after the second: {after_second}")
    ok = after_first == after_second and after_first["pageviews"] == gen.pageviews
    print("totals unchanged by the second import" if ok else "TOTALS MOVED")
    if max(first, second) > TARGET_S:
        print(f"slower than the target of {TARGET_S:.0f} s")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

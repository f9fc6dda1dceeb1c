"""Where the daemon's CPU goes under batched ingest: a py-spy profile.

`python -m bench.profile [--seconds N] [--rev REV]` starts this tree's
daemon (or REV's, extracted with git archive), drives it with the batched
wrk mix (50 events per request, as `make bench`'s batched line) for N + 10
s, and records N (default 20) seconds of py-spy samples
of the daemon's threads (the event loop and the spool/SQLite worker
threads). It prints the share of samples in the spool (any frame in
analyticsd/storage/spool.py or the lmdb binding) and the 15 functions with
the largest inclusive share. Loopback only; bounded in time.

py-spy is not a dependency of the project: `pip install py-spy` first (it
needs ptrace, so run as root or with CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import (
    SITE,
    extract_rev,
    free_port,
    process,
    source_env,
    wait_drained,
    write_config,
)

HERE = Path(__file__).resolve().parent
SPOOL_FRAMES = ("storage/spool.py", "lmdb/")


def profile(seconds: int, tmp: Path, source: Path | None = None) -> Path:
    """Record; `source`: another checkout's folder to run instead of this tree."""
    port = free_port()
    cfg = write_config(tmp, port)
    args = [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)]
    out = tmp / "profile.txt"
    env = {**os.environ, "SITE": SITE, "BATCH": "50"}
    daemon_env = source_env(source)
    wrk = ["wrk", "-t1", "-c32", f"-d{seconds + 10}s", "--timeout", "5s"]
    with process(args, port, tmp / "daemon.log", env=daemon_env, cwd=source) as proc:
        load = subprocess.Popen(
            [*wrk, "-s", str(HERE / "mix.lua"), f"http://127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            spy = ["py-spy", "record", "--pid", str(proc.pid), "--duration", str(seconds)]
            spy += ["--rate", "100", "--format", "raw", "--threads", "--nonblocking"]
            subprocess.run([*spy, "-o", str(out)], check=True, timeout=seconds + 60)
        finally:
            load.wait(timeout=seconds + 60)
        wait_drained(f"http://127.0.0.1:{port}")
    return out


# Frames on nearly every stack (interpreter start, trio's loop, the CLI, a
# worker thread's loop) say nothing about where the time goes.
_GENERIC = ("<frozen runpy>", "trio/_core/_run.py", "analyticsd/cli.py", "__main__.py")
_GENERIC += ("threading.py", "_thread_cache.py")


def summarise(path: Path, top: int = 15) -> tuple[float, list[tuple[str, float, float]], int]:
    """(spool share, [(function, inclusive share, own share)], samples) of
    collapsed stacks; py-spy records only threads that are running."""
    total = 0
    spool = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        frames = [f for f in stack.split(";")[1:] if f]  # the first is the thread
        if not frames:
            continue
        n = int(count_s)
        total += n
        if any(marker in f for f in frames for marker in SPOOL_FRAMES):
            spool += n
        own[_function(frames[-1])] += n
        for name in {_function(f) for f in frames if not any(g in f for g in _GENERIC)}:
            inclusive[name] += n
    if not total:
        return 0.0, [], 0
    ranked = [(name, n / total, own[name] / total) for name, n in inclusive.most_common(top)]
    return spool / total, ranked, total


def _function(frame: str) -> str:
    # "function (path/to/file.py:line)" -> "function (file.py)"
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    parts = file.split("/")
    short = "/".join(parts[-2:]) if "analyticsd" in file else parts[-1]
    return f"{name} ({short})"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rev", help="profile this git revision instead of the tree")
    parser.add_argument("--summarise", type=Path, help="summarise a recorded profile again")
    args = parser.parse_args()
    if args.summarise:
        return _print(args.seconds, *summarise(args.summarise))
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="analyticsd-profile-") as tmp_s:
        tmp = Path(tmp_s)
        source = extract_rev(args.rev, tmp / "source") if args.rev else None
        out = profile(args.seconds, tmp, source)
        (HERE / "out").mkdir(exist_ok=True)
        shutil.copy(out, HERE / "out" / f"profile-{args.rev or 'tree'}.txt")  # for a second look
        return _print(args.seconds, *summarise(out))


def _print(seconds: int, share: float, ranked: list[tuple[str, float, float]], samples: int) -> int:
    print(f"{samples} samples of running code over {seconds} s of batched ingest")
    print(f"spool (storage/spool.py + lmdb): {100 * share:.1f} % of the daemon's CPU")
    print("| function | inclusive | own |\n| --- | --- | --- |")
    for name, incl, self_share in ranked:
        print(f"| `{name}` | {100 * incl:.1f} % | {100 * self_share:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

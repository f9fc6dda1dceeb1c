"""Command line: `analyticsd run | status | reload | check-config | backup | export |
import | backfill | recompute | runs | replay-dead-letters` (SPEC §3).

Exit codes (the README's table): 0 success (status: the daemon runs);
1 an unexpected failure, or a reload that did not finish in time;
2 the configuration is invalid (check-config, run, a refused reload);
3 no running daemon (status, reload); 4 the daemon cannot listen on an
address (in use, not permitted, not local); 5 the data directory cannot be
used (permission denied, locked by another daemon); 141 standard output
was closed early (`status | head -1`), as for a program killed by SIGPIPE.
Every failure is one line on stderr naming the address, path or key.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time

import trio

from analyticsd import __version__, control, logfmt, status_report, tuning
from analyticsd.core import config as config_mod
from analyticsd.core import status_text
from analyticsd.core.config import Config
from analyticsd.core.errors import (
    AnalyticsdError,
    ConfigError,
    DaemonUnreachable,
    DataDirError,
    ListenError,
)

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_DOWN = 3
EXIT_LISTEN = 4
EXIT_DATA_DIR = 5
EXIT_PIPE = 128 + signal.SIGPIPE
# The man page `--help` is: what each command does, where things are, what
# the exit codes mean.
EPILOG = """\
commands:
  run           the daemon, in the foreground; systemd runs it as the
                analyticsd service. SIGHUP re-reads the file, SIGTERM stops
                within 7 s.
  status        the running daemon's report (spool, forwarder, aggregator,
                ingest, last reload); found through data_dir/daemon.json even
                when the file no longer loads. Down: figures read from the
                data dir, exit 3.
  reload        SIGHUP the daemon, wait for that reload's outcome; exit 2
                with the key when the file is refused (systemd's ExecReload).
  check-config  every problem of the file, one line each; never a secret.
  backup PATH   a consistent copy of the statistics database.
  export        a site's day rows or per-event rows, as CSV or NDJSON.
  import plausible --site S FILE.zip
                a Plausible CSV export as the site's imported history
                (all or nothing; importing again replaces, never adds).
  backfill --site S FILE.ndjson
                past events (any date within raw_event_retention_days) into
                the running daemon, deduplicated by eventId, checked like
                ingest; a bad line and nothing is sent. Needs an unscoped
                API token (--token, $ANALYTICSD_TOKEN or the configuration).
  recompute --site S --from D --to D
                rebuild those days' rollups from the per-event rows with the
                goals configured now (e.g. after a goal changed), one
                transaction per day, by the running daemon. Days older than
                raw_event_retention_days are refused.
  runs          the aggregation-runs log: each flush and retention prune,
                when, how long, how many events and rows, and failures
                (read-only; also while the daemon runs).
  replay-dead-letters
                (hub) move the dead-lettered stream entries back into the
                stream once their cause is fixed (e.g. the site added).

configuration:
  --config PATH, else $ANALYTICSD_CONFIG, else /etc/analyticsd/analyticsd.toml
  if it exists, else built-in defaults (127.0.0.1:8787, data in ./var).

files:
  /etc/analyticsd/analyticsd.toml   the configuration (root:analyticsd 0640)
  /var/lib/analyticsd/              the data dir: spool/, stats.sqlite3,
                                    salts.json, session.key, daemon.json,
                                    admin.sock, analyticsd.lock

exit status:
  0 success; 1 unexpected failure or no reload outcome in time;
  2 invalid configuration; 3 no running daemon; 4 cannot listen (address
  in use, permission denied); 5 data dir unusable (permission denied,
  locked by another daemon); 141 standard output closed early.

environment:
  ANALYTICSD_CONFIG    the configuration file
  NOTIFY_SOCKET, WATCHDOG_USEC   set by systemd (readiness, watchdog)
"""
# How long `reload` waits for the daemon to report its reload's outcome.
RELOAD_WAIT_S = 30.0


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def load_config(path: str | None) -> tuple[Config, str]:
    return config_mod.load(path, dict(os.environ), os.path.exists, _read)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analyticsd",
        description="Privacy-first web analytics: beacons in, counts out, no IP stored.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"analyticsd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the daemon in the foreground"),
        ("status", "show spool, forwarder and aggregator state"),
        ("reload", "re-read the configuration file and wait for the outcome"),
        ("check-config", "validate the configuration file"),
        ("backup", "copy the statistics database consistently (also while running)"),
        ("export", "print a site's day aggregates or per-event rows"),
        ("import", "import a Plausible CSV export (zip) as a site's history"),
        ("backfill", "send past events (NDJSON) to the running daemon, deduplicated by eventId"),
        ("recompute", "rebuild days' rollups from the per-event rows (current goals)"),
        ("runs", "list the logged aggregation runs (flushes, prunes) and their failures"),
        ("replay-dead-letters", "move dead-lettered stream entries back into the hub's stream"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="path to the TOML file")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "reload":
            cmd.add_argument(
                "--pid", type=int, help="the daemon's pid (systemd: $MAINPID); default: its record"
            )
        if name == "backup":
            cmd.add_argument("path", help="the new file to write (must not exist)")
        if name == "runs":
            cmd.add_argument("--since", default="", help="an age (90m, 6h, 2d) or a UTC date/time")
            cmd.add_argument("--limit", type=int, default=50, help="at most this many, the latest")
            cmd.add_argument("--json", action="store_true", help="print one JSON array")
        if name == "replay-dead-letters":
            cmd.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
        if name == "import":
            cmd.add_argument("source", choices=("plausible",), help="where the export is from")
            cmd.add_argument("file", help="the export's zip (imported_*.csv files)")
            cmd.add_argument("--site", required=True, help="the configured site it is for")
        if name == "backfill":
            cmd.add_argument("file", help="one event per line (JSON, eventId and timestamp set)")
            cmd.add_argument("--site", required=True, help="the configured site they are for")
            cmd.add_argument("--token", help="an API token without a sites scope")
        if name == "recompute":
            cmd.add_argument("--site", required=True, help="the configured site")
            cmd.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
            cmd.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD, inclusive")
            cmd.add_argument("--token", help="an API token without a sites scope")
        if name == "export":
            cmd.add_argument("--site", required=True)
            cmd.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
            cmd.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD, inclusive")
            cmd.add_argument("--format", choices=("csv", "ndjson"), default="csv")
            cmd.add_argument(
                "--rows",
                choices=("aggregates", "events"),
                default="aggregates",
                help="day rows per dimension value, or per-event rows",
            )
    return p


def cmd_backup(path: str | None, dest: str) -> int:
    from analyticsd.storage.export import backup

    cfg, _ = load_config(path)
    size = backup(cfg.storage.data_dir, dest)
    print(f"backed up {size} bytes to {dest}")
    return 0


def cmd_export(path: str | None, args: argparse.Namespace) -> int:
    from analyticsd.core.aggregate import day_number
    from analyticsd.storage import export

    cfg, _ = load_config(path)
    site = cfg.site(args.site)
    if site is None:
        raise AnalyticsdError(f"--site {args.site!r} is not a configured site")
    try:
        first, last = day_number(args.first), day_number(args.last)
    except ValueError:
        raise AnalyticsdError("--from and --to must be dates like 2026-11-23") from None
    if first > last:
        raise AnalyticsdError("--from must not be after --to")
    data_dir = cfg.storage.data_dir
    if args.rows == "events":
        rows = export.events(data_dir, site.id, site.timezone, first, last)
        columns = export.EVENT_COLUMNS
    else:
        rows = export.aggregates(data_dir, site.id, first, last)
        columns = export.AGGREGATE_COLUMNS
    export.write(rows, columns, args.format, sys.stdout)
    return 0


def cmd_import(path: str | None, args: argparse.Namespace) -> int:
    from analyticsd.import_command import run_import

    cfg, _ = load_config(path)
    return run_import(cfg, args.source, args.site, args.file)


def cmd_backfill(path: str | None, args: argparse.Namespace) -> int:
    from analyticsd.backfill_command import run_backfill

    target = control.find(path, load_config)
    if target.config is None:
        raise ConfigError(target.config_error or "the configuration does not load")
    return run_backfill(target.config, target, args.site, args.file, args.token)


def cmd_recompute(path: str | None, args: argparse.Namespace) -> int:
    from analyticsd.backfill_command import run_recompute

    target = control.find(path, load_config)
    if target.config is None:
        raise ConfigError(target.config_error or "the configuration does not load")
    return run_recompute(target.config, target, args.site, args.first, args.last, args.token)


def cmd_runs(path: str | None, args: argparse.Namespace) -> int:
    from analyticsd.core import runs
    from analyticsd.daemon import wall_ms
    from analyticsd.storage import run_log
    from analyticsd.storage.statsdb import FILENAME, connect_readonly

    if not 1 <= args.limit <= 100_000:
        raise AnalyticsdError("--limit must be between 1 and 100000")
    try:
        since = runs.parse_since(args.since, wall_ms()) if args.since else 0
    except ValueError as e:
        raise AnalyticsdError(str(e)) from None
    cfg, _ = load_config(path)
    db = os.path.join(cfg.storage.data_dir, FILENAME)
    if not os.path.exists(db):
        raise AnalyticsdError(f"no statistics database at {db} (nothing flushed yet)")
    conn = connect_readonly(db)
    try:
        logged = run_log.read(conn, since, args.limit)
    finally:
        conn.close()
    if args.json:
        print(json.dumps([runs.as_json(r) for r in logged], sort_keys=True))
    else:
        print(runs.render(logged))
    return 0


def cmd_replay_dead_letters(path: str | None, limit: int) -> int:
    from analyticsd.storage.dead_letters import replay

    cfg, _ = load_config(path)
    hub = cfg.hub
    if not hub.enabled:
        raise AnalyticsdError("replay-dead-letters needs [hub] enabled = true in the configuration")
    if limit < 0:
        raise AnalyticsdError("--limit must be 0 (all) or more")
    done = replay(hub.redis_url, hub.stream, hub.dead_letters, hub.timeout_s, limit)
    print(
        f"replayed {done.replayed} entries from {hub.dead_letters} into {hub.stream}"
        + (f"; {done.skipped} without their original fields left in place" if done.skipped else "")
    )
    return 0


def cmd_check_config(path: str | None) -> int:
    try:
        cfg, source = load_config(path)
    except ConfigError as e:
        target = control.find(path, load_config)
        # Every problem of the file at once, not only the first one loading stops at.
        lines = (target.config_error or str(e)).splitlines()
        print(f"analyticsd: {target.source}: {len(lines)} problem(s):", file=sys.stderr)
        for line in lines:
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"{source}: OK ({len(cfg.sites)} site(s), listen {cfg.server.listen}, "
        f"data dir {cfg.storage.data_dir})"
    )
    return 0


def cmd_run(path: str | None) -> int:
    from analyticsd.daemon import Daemon, lock_data_dir

    logfmt.configure(logging.INFO)
    cfg, source = load_config(path)
    logging.getLogger("analyticsd").info("configuration from %s", source)
    lock_fd = lock_data_dir(cfg.storage.data_dir)
    tuning.before_start()
    try:
        # SIGHUP re-reads the same file the daemon started from.
        reload = (lambda: load_config(path)[0]) if source != "built-in defaults" else None
        config_path = os.path.abspath(source) if reload is not None else ""
        daemon = Daemon(cfg, load_config=reload, config_path=config_path)
        try:
            trio.run(daemon.run)
        except AnalyticsdError:
            raise  # ours, worded for the operator: main() prints its one line
        except Exception:
            # Top-level supervisor: any actor's unexpected failure ends up
            # here. Log it once and exit non-zero so systemd restarts us;
            # acknowledged events are safe in the spool.
            logging.getLogger("analyticsd").exception("fatal error, exiting")
            return 1
        finally:
            daemon.close()
    finally:
        os.close(lock_fd)
    return 0


def _config_warning(target: control.Target) -> None:
    lines = (target.config_error or "").splitlines()
    print(
        f"analyticsd: {target.source} does not load ({len(lines)} problem(s)); "
        "a running daemon keeps its configuration and refuses a reload:",
        file=sys.stderr,
    )
    for line in lines:
        print(f"  {line}", file=sys.stderr)


def cmd_status(path: str | None, as_json: bool) -> int:
    from analyticsd.daemon import wall_ms

    target = control.find(path, load_config)
    if target.config_error is not None:
        _config_warning(target)
    asked = control.ask(target)
    if asked is None and target.config is None:
        return EXIT_CONFIG  # no daemon, and no configuration to read the data dir with
    if asked is not None:
        rep = asked[0]
    else:
        assert target.config is not None
        rep = status_report.offline(target.config, wall_ms())
    if as_json:
        print(json.dumps(rep, sort_keys=True))
    else:
        print(status_text.render(rep))
        if asked is None:
            assert target.config is not None
            print(
                "the daemon is down (no answer on "
                f"{', '.join(target.addresses())}); figures read from the data directory"
            )
    return 0 if asked is not None else EXIT_DOWN


def cmd_reload(path: str | None, pid: int | None) -> int:
    """SIGHUP the daemon, then wait until it reports that very reload's outcome."""
    target = control.find(path, load_config)
    asked = control.ask(target)
    if asked is None:
        where = target.data_dir or target.source
        raise DaemonUnreachable(f"no running analyticsd answers for {where}")
    report, address = asked
    daemon_pid = int(report.get("pid") or 0)
    if pid is not None and daemon_pid and pid != daemon_pid:
        raise DaemonUnreachable(f"the daemon on {address} is pid {daemon_pid}, not {pid}")
    before = int((report.get("reload") or {}).get("generation", 0))
    os.kill(pid or daemon_pid, signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = control.get_json(address, "/api/health")
        outcome = (now or {}).get("reload") or {}
        if int(outcome.get("generation", 0)) > before:
            if outcome.get("ok"):
                changed = ", ".join(outcome.get("changed") or []) or "nothing changed"
                restart = ", ".join(outcome.get("needs_restart") or [])
                print(f"reloaded: {changed}" + (f"; needs a restart: {restart}" if restart else ""))
                return 0
            print(
                f"analyticsd: reload refused, the running configuration stays: "
                f"{outcome.get('error')}",
                file=sys.stderr,
            )
            return EXIT_CONFIG
    print(f"analyticsd: no reload outcome within {RELOAD_WAIT_S:.0f} s", file=sys.stderr)
    return EXIT_FAILURE


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `status | head -1`: the reader has what it wanted. Quiet, like a
        # program killed by SIGPIPE; stdout points at /dev/null so the flush
        # at exit does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except ConfigError as e:
        print(f"analyticsd: configuration error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except ListenError as e:
        print(f"analyticsd: {e}", file=sys.stderr)
        return EXIT_LISTEN
    except DataDirError as e:
        print(f"analyticsd: {e}", file=sys.stderr)
        return EXIT_DATA_DIR
    except DaemonUnreachable as e:
        print(f"analyticsd: {e}", file=sys.stderr)
        return EXIT_DOWN
    except AnalyticsdError as e:
        print(f"analyticsd: {e}", file=sys.stderr)
        return EXIT_DOWN if args.command == "status" else EXIT_FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return cmd_check_config(args.config)
    if args.command == "status":
        return cmd_status(args.config, args.json)
    if args.command == "reload":
        return cmd_reload(args.config, args.pid)
    if args.command == "backup":
        return cmd_backup(args.config, args.path)
    if args.command == "export":
        return cmd_export(args.config, args)
    if args.command == "import":
        return cmd_import(args.config, args)
    if args.command == "backfill":
        return cmd_backfill(args.config, args)
    if args.command == "recompute":
        return cmd_recompute(args.config, args)
    if args.command == "runs":
        return cmd_runs(args.config, args)
    if args.command == "replay-dead-letters":
        return cmd_replay_dead_letters(args.config, args.limit)
    return cmd_run(args.config)

"""Command line: `analyticsd run | status | check-config | backup | export` (SPEC §3)."""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
from typing import Any

import trio

from analyticsd import __version__, logfmt, status_report, tuning
from analyticsd.core import config as config_mod
from analyticsd.core import status_text
from analyticsd.core.config import Config
from analyticsd.core.errors import AnalyticsdError, ConfigError

EXIT_DOWN = 3
EXIT_CONFIG = 2


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def load_config(path: str | None) -> tuple[Config, str]:
    return config_mod.load(path, dict(os.environ), os.path.exists, _read)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="analyticsd", description="Privacy-first web analytics.")
    p.add_argument("--version", action="version", version=f"analyticsd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the daemon in the foreground"),
        ("status", "show spool, forwarder and aggregator state"),
        ("check-config", "validate the configuration file"),
        ("backup", "copy the statistics database consistently (also while running)"),
        ("export", "print a site's day aggregates or per-event rows"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", help="path to the TOML file")
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "backup":
            cmd.add_argument("path", help="the new file to write (must not exist)")
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


def cmd_check_config(path: str | None) -> int:
    cfg, source = load_config(path)
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
        daemon = Daemon(cfg, load_config=reload)
        try:
            trio.run(daemon.run)
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


def _ask_daemon(cfg: Config) -> dict[str, Any] | None:
    host, port = config_mod.parse_listen(cfg.server.listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    conn = http.client.HTTPConnection(host, port, timeout=3)
    try:
        conn.request("GET", "/api/health")
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        data: dict[str, Any] = json.loads(resp.read())
        return data
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def cmd_status(path: str | None, as_json: bool) -> int:
    from analyticsd.daemon import wall_ms

    cfg, _ = load_config(path)
    live = _ask_daemon(cfg)
    rep = live if live is not None else status_report.offline(cfg, wall_ms())
    if as_json:
        print(json.dumps(rep, sort_keys=True))
    else:
        print(status_text.render(rep))
        if live is None:
            print(
                "the daemon is down (no answer on "
                f"{cfg.server.listen}); figures read from the data directory"
            )
    return 0 if live is not None else EXIT_DOWN


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return cmd_check_config(args.config)
        if args.command == "status":
            return cmd_status(args.config, args.json)
        if args.command == "backup":
            return cmd_backup(args.config, args.path)
        if args.command == "export":
            return cmd_export(args.config, args)
        return cmd_run(args.config)
    except ConfigError as e:
        print(f"analyticsd: configuration error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except AnalyticsdError as e:
        print(f"analyticsd: {e}", file=sys.stderr)
        return EXIT_DOWN if args.command == "status" else 1

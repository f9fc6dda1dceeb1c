"""The status report: one shape for `status`, `status --json` and `/api/health`."""

from __future__ import annotations

from typing import Any


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def render(report: dict[str, Any]) -> str:
    """Human-readable status lines."""
    sp, ag, fw, ing = (report["spool"], report["aggregator"], report["forwarder"], report["ingest"])
    lines = [
        f"analyticsd {report['version']}: {report['daemon']}"
        + (f" (up {_age(report.get('uptime_s'))})" if report["daemon"] == "running" else ""),
        f"  data dir:     {report['data_dir']}",
        f"  spool:        {sp['events']} events, {_bytes(sp['bytes'])} of "
        f"{_bytes(sp['quota_bytes'])} quota ({sp['used_pct']:.1f}%)",
        f"  oldest event: {_age(sp['oldest_event_age_s'])} old (not yet consumed by everyone)",
        _forwarder_line(fw),
        f"  aggregator:   {ag['lag_events']} events behind, last flush "
        f"{ag['last_flush'] or 'never'}"
        + (f", {ag['open_visits']} visits open" if ag.get("open_visits") else ""),
        f"  ingest:       {ing['events_per_s_1m']:.1f} events/s over the last minute"
        if ing["events_per_s_1m"] is not None
        else "  ingest:       -",
    ]
    if report.get("geoip"):
        lines.append(_geoip_line(report["geoip"]))
    for problem in report.get("problems") or []:
        lines.append(f"  PROBLEM:      {problem}")
    for warning in report.get("warnings") or []:
        lines.append(f"  WARNING:      {warning}")
    rl = report.get("reload") or {}
    if rl.get("last"):
        lines.append(
            f"  config:       reloaded {rl['last']}"
            + (" OK" if rl.get("ok") else f", FAILED (running configuration kept): {rl['error']}")
        )
    hub = report.get("hub")
    if hub:
        lines.append(
            f"  hub:          {hub['state']}"
            + (f" since {hub['since']}" if hub.get("since") else "")
            + f", {hub['consumed_total']} consumed, {hub['duplicates_total']} duplicates, "
            f"{hub['dead_lettered_total']} dead-lettered, {hub['trimmed_total']} trimmed; "
            f"stream lag {_count(hub.get('stream_lag'))}, pending {hub.get('stream_pending', 0)}"
        )
    return "\n".join(lines)


def _geoip_line(geo: dict[str, Any]) -> str:
    if geo["database"] == "off":
        return '  geoip:        off ([geoip] database = "none")'
    if not geo["loaded"]:
        return f"  geoip:        not in use, {geo['path']} cannot be read (see WARNING)"
    what = (
        f"bundled country database ({geo['package'] or geo['path']})"
        if geo["database"] == "bundled"
        else f"{geo['path']} ({geo['type']})"
    )
    kind = "countries, regions, cities" if geo["cities"] else "countries only"
    built = f", built {geo['built']} ({geo['age_days']:.0f} days ago)" if geo["built"] else ""
    return f"  geoip:        {what}: {kind}{built}"


def _forwarder_line(fw: dict[str, Any]) -> str:
    line = f"  forwarder:    {fw['state']}" + (f" since {fw['since']}" if fw.get("since") else "")
    if fw.get("backlog_events") is not None:
        line += (
            f", backlog {fw['backlog_events']} events"
            f" (oldest {_age(fw.get('oldest_unforwarded_age_s'))} old)"
        )
    if fw.get("unconfirmed_events"):
        line += f", {fw['unconfirmed_events']} awaiting the hub's confirmation"
    if fw.get("last_error") and fw["state"] != "healthy":
        line += f"; last error: {fw['last_error']}"
    if fw.get("loss_detected_total"):
        line += (
            f"\n  STREAM LOSS:  detected {fw['loss_detected_total']} time(s), last at "
            f"{fw['last_loss_at']}: {fw['last_loss']}"
        )
    return line


def _count(n: int | None) -> str:
    return "unknown" if n is None else str(n)

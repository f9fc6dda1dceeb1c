"""The tracker script route: static/tracker.js, minified once, endpoint filled in.

The script is minified at start (rjsmin: whitespace and comments only, so
what runs is what the source says) and must stay under MAX_BYTES; a test
checks it. It is served at `tracker.script_path` and posts to
`tracker.event_path`, resolved against the script's own URL, so renaming
both in the configuration is all a site needs to get past ad-block lists.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

import rjsmin
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.config import TrackerConfig

MAX_BYTES = 2048


@lru_cache(maxsize=4)
def script(event_path: str) -> bytes:
    source = resources.files("analyticsd.http").joinpath("static/tracker.js").read_text()
    minified: str = rjsmin.jsmin(source)
    return minified.replace("EVENT_PATH", event_path).encode()


def register(app: QuartTrio, cfg: TrackerConfig) -> None:
    body = script(cfg.event_path)
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    async def serve() -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(b"", status=304, headers={"ETag": etag})
        return Response(
            body,
            status=200,
            content_type="application/javascript; charset=utf-8",
            headers={
                "Cache-Control": "public, max-age=3600",
                "ETag": etag,
                "Access-Control-Allow-Origin": "*",
            },
        )

    app.add_url_rule(cfg.script_path, "tracker_script", serve, methods=["GET"])

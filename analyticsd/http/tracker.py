"""The tracker script routes: static/tracker.js, minified once per variant.

The script is minified at start (rjsmin: whitespace and comments only, so
what runs is what the source says) and must stay under MAX_BYTES; a test
checks it. It posts to `tracker.event_path`, resolved against the script's
own URL, so renaming both in the configuration is all a site needs to get
past ad-block lists.

Served under `tracker.script_path` with every feature on, and under
Plausible's names: `/js/script.js`, `/js/plausible.js` and every
combination of Plausible's extensions (`script.hash.outbound-links.js`, in
any order), with the features those names turn on, so a Plausible snippet
works by changing its host only. Our own path wins where the two meet
(the default `/js/script.js`): it is a superset of Plausible's plain script.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

import rjsmin
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.config import TrackerConfig

# Plausible's extensions and the feature flag of tracker.js each turns on.
# `revenue` and `compat` need none: revenue is always sent when given, and
# the script finds itself by id="plausible" when currentScript is missing.
EXTENSIONS = {
    "hash": "h", "outbound-links": "o", "file-downloads": "f", "tagged-events": "t",
    "manual": "m", "local": "l", "exclusions": "x", "pageview-props": "p",
    "revenue": "", "compat": "",
}  # fmt: skip
# Under our own path: what the tracker did before Plausible's names existed.
OWN_FEATURES = frozenset({"o", "f", "t", "x", "p"})
PLAUSIBLE_BASES = ("script", "plausible")
# Tagged elements, exclusions and the queue of Plausible's API take it past
# the 2 KB of the first version; Plausible's own scripts are about as big.
MAX_BYTES = 3584


def features_of(name: str) -> frozenset[str] | None:
    """The features Plausible's script `name` (e.g. "script.hash.js") turns
    on; None if it is not one of Plausible's names."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in PLAUSIBLE_BASES or parts[-1] != "js":
        return None
    extensions = parts[1:-1]
    if len(set(extensions)) != len(extensions) or not set(extensions) <= EXTENSIONS.keys():
        return None
    return frozenset(EXTENSIONS[e] for e in extensions if EXTENSIONS[e])


@lru_cache(maxsize=64)
def script(event_path: str, features: frozenset[str] = OWN_FEATURES) -> bytes:
    source = resources.files("analyticsd.http").joinpath("static/tracker.js").read_text()
    minified: str = rjsmin.jsmin(source)
    flags = "{" + ",".join(f"{f}:1" for f in sorted(features)) + "}"
    return minified.replace("EVENT_PATH", event_path).replace("FEATURES", flags).encode()


def _response(body: bytes) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
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


def register(app: QuartTrio, cfg: TrackerConfig) -> None:
    own = script(cfg.event_path)

    async def serve() -> Response:
        return _response(own)

    async def serve_plausible(name: str) -> Response:
        features = features_of(name)
        if features is None:
            return Response(
                f"no tracker script {name!r}: Plausible's names are script.js or "
                "plausible.js with extensions such as script.hash.outbound-links.js\n",
                status=404,
                content_type="text/plain; charset=utf-8",
            )
        return _response(script(cfg.event_path, features))

    app.add_url_rule(cfg.script_path, "tracker_script", serve, methods=["GET"])
    app.add_url_rule("/js/<name>", "plausible_script", serve_plausible, methods=["GET"])

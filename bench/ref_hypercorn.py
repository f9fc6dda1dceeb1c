"""Reference: a bare ASGI app on hypercorn's trio worker that parses the JSON and answers 202.

Run: python -m bench.ref_hypercorn PORT
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

BODY = b'{"success":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    msgspec.json.decode(body)
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.accesslog = None
    config.errorlog = None
    trio.run(serve, app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

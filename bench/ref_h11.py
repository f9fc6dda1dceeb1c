"""Reference: a minimal trio + h11 server that parses the JSON body and answers 202.

No framework, no validation, no storage: the ceiling of what HTTP handling on
trio costs in this process model. Run: python -m bench.ref_h11 PORT
"""

from __future__ import annotations

import sys
from functools import partial

import h11
import msgspec
import trio

BODY = b'{"success":true}'


async def handle(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    return
                if isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            msgspec.json.decode(body)
            out = conn.send(
                h11.Response(
                    status_code=202,
                    headers=[
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(BODY)).encode()),
                    ],
                )
            )
            out += conn.send(h11.Data(data=BODY)) + conn.send(h11.EndOfMessage())
            await stream.send_all(out)
            if conn.our_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, h11.RemoteProtocolError, msgspec.DecodeError):
        return
    finally:
        await stream.aclose()


def main() -> None:
    trio.run(partial(trio.serve_tcp, handle, int(sys.argv[1]), host="127.0.0.1"))


if __name__ == "__main__":
    main()

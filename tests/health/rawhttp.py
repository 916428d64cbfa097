"""A minimal HTTP/1.1 client for the health tests: one connection per request.

The drain and probe tests must tell a refused connection (the listener is closed: the
request was never accepted) from a reset one and from an HTTP error, and must send
many requests at once without a client library's pool getting in the way; a raw
socket says exactly what happened.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer
    error: str | None  # "refused", "reset", "closed", "timeout" when status is None
    body: bytes = b""
    sent_at: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


async def get(port: int, path: str, *, headers: dict[str, str] | None = None,
              within: float = 10.0, host: str = "127.0.0.1") -> Answer:  # fmt: skip
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except ConnectionRefusedError:
        return Answer(None, "refused", sent_at=sent_at)
    except ConnectionResetError:
        return Answer(None, "reset", sent_at=sent_at)
    except TimeoutError:
        return Answer(None, "timeout", sent_at=sent_at)
    except OSError as exc:  # not the server's doing (say, no local port left): named
        return Answer(None, f"connect failed: {exc!r}", sent_at=sent_at)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = await asyncio.wait_for(reader.read(-1), within)
    except TimeoutError:
        return Answer(None, "timeout", sent_at=sent_at)
    except OSError:
        return Answer(None, "reset", sent_at=sent_at)
    finally:
        writer.close()
    if not data:
        return Answer(None, "closed", sent_at=sent_at)
    head, _, body = data.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), None, body, sent_at)

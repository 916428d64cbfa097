"""A header-less TCP forwarder for the tests: what socat, HAProxy or stunnel in TCP mode,
or a mesh sidecar are to a server. It relays bytes and adds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


@asynccontextmanager
async def forwarder(target: int) -> AsyncIterator[tuple[int, Callable[[], Awaitable[None]]]]:
    """Listen on 127.0.0.1 (a free port) and relay every connection to 127.0.0.1:``target``.

    Yields ``(port, close)``: ``close()`` cuts every relayed connection and stops
    listening (a server that went away, as its clients see it).
    """
    links: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(near: asyncio.StreamReader, back: asyncio.StreamWriter) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", target)
        links.extend((back, writer))
        await asyncio.gather(pipe(near, writer), pipe(reader, back))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)

    async def close() -> None:
        server.close()
        for link in links:
            link.transport.abort()
        await server.wait_closed()

    try:
        yield server.sockets[0].getsockname()[1], close
    finally:
        await close()

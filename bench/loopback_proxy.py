"""A CONNECT proxy to its own namespace's loopback, for bench/lossy_stream.py: the broker
listens on the clinic's loopback only, and Chromium in the home namespace reaches its pages
through this proxy on the clinic's address (the media goes directly, across the link).
"""

from __future__ import annotations

import asyncio
import contextlib


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def connect_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP CONNECT to this namespace's loopback only (the broker's ports); anything else
    is refused."""
    head = await reader.readuntil(b"\r\n\r\n")
    words = head.split(b"\r\n", 1)[0].split()
    if (
        len(words) < 2
        or words[0] != b"CONNECT"
        or not words[1].startswith((b"127.0.0.1:", b"localhost:"))
    ):
        writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        writer.close()
        return
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(words[1].split(b":")[1]))
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

"""A loopback TCP proxy that can drop one connection mid-stream, like a flaky home connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to a target; connection number ``cut_connection`` (1-based) is reset after
    ``cut_after`` bytes from the client, once ``before_cut()`` returns (e.g. when the server has taken
    those bytes in: over loopback they would otherwise all arrive before the server starts reading)."""

    def __init__(self, target_host: str, target_port: int, *, cut_connection: int | None = None,
                 cut_after: int = 0, before_cut: Callable[[], Awaitable[None]] | None = None) -> None:
        self.target = (target_host, target_port)
        self.cut_connection = cut_connection
        self.cut_after = cut_after
        self.before_cut = before_cut
        self.connections = 0
        self.cuts = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        cut = self.cut_connection == self.connections
        server_r, server_w = await asyncio.open_connection(*self.target)

        def abort() -> None:
            for writer in (client_w, server_w):
                writer.transport.abort()  # RST, not a polite FIN

        async def upstream() -> None:
            sent = 0
            while data := await client_r.read(65536):
                if cut and sent + len(data) > self.cut_after:
                    server_w.write(data[: max(0, self.cut_after - sent)])
                    await server_w.drain()
                    if self.before_cut is not None:
                        await self.before_cut()
                    self.cuts += 1
                    abort()
                    return
                sent += len(data)
                server_w.write(data)
                await server_w.drain()
            server_w.write_eof()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(upstream(), downstream())
        for writer in (client_w, server_w):
            writer.close()

"""Baseline: a plain python-socketio broadcast chat server, as a Python developer would write it.

`sio_server.py PORT [REDIS_URL]`: socketio.AsyncServer (ASGI) under uvicorn (uvloop,
httptools, websockets), a `join` event enters the client into a room, and every `chat`
event is `emit`ted to that room (the sender skipped). With REDIS_URL, several servers
share rooms through socketio.AsyncRedisManager. Prints {"event": "ready", "port": N}.

Engine.IO's own ping/pong (25 s / 20 s) keeps connections alive, so uvicorn's extra
WebSocket-level pings are turned off; compression is never negotiated (clients do not ask).
"""

from __future__ import annotations

import asyncio
import json
import sys

import socketio
import uvicorn
from common import raise_nofile


def build(redis_url: str | None) -> socketio.ASGIApp:
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")

    @sio.on("join")  # type: ignore[misc]
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)
        await sio.emit("joined", room, to=sid)

    @sio.on("chat")  # type: ignore[misc]
    async def chat(sid: str, message: dict[str, str]) -> None:
        await sio.emit("chat", message, room="room", skip_sid=sid)

    return socketio.ASGIApp(sio)


async def main(port: int, redis_url: str | None) -> None:
    raise_nofile()
    config = uvicorn.Config(
        build(redis_url),
        host="127.0.0.1",
        port=port,
        loop="none",
        http="httptools",
        ws="websockets",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        log_level="warning",
        access_log=False,
        backlog=4096,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    print(json.dumps({"event": "ready", "port": port}), flush=True)
    await task


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))

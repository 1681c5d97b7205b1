"""Live sessions: publish auth, one pipeline per live channel, reconnect grace, stream state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from streamhub.config import Settings
from streamhub.ingest.server import PublishRefused, PublishSink, redact_key
from streamhub.packaging import StreamPackager
from streamhub.protocols.flv import (
    is_aac_sequence_header,
    is_avc_sequence_header,
    is_video_keyframe,
)
from streamhub.protocols.fmp4 import Fmp4Error
from streamhub.protocols.h264 import H264Error, sps_from_flv_sequence_header
from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.errors import ProtocolError
from streamhub.transcode.ladder import Output, SourceInfo, plan_outputs
from streamhub.transcode.supervisor import Transcoder

BAD_NAME = "NetStream.Publish.BadName"


class StreamKeyResolver(Protocol):
    async def resolve_stream_key(self, key: str) -> str | None: ...


class LiveListener(Protocol):
    """Told when a channel's session first goes live and when it ends (must not block)."""

    def on_live(self, login: str, session_id: str, started: datetime) -> None: ...

    def on_offline(self, login: str, session_id: str) -> None: ...


class InputStats:
    """Rolling figures about what the encoder sends (bitrate, fps, keyframe interval)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._bytes: deque[tuple[float, int]] = deque()
        self._frames: deque[float] = deque()
        self._last_key_ts: int | None = None
        self.keyframe_interval: float | None = None
        self.total_bytes = 0

    def add(self, size: int, *, video: bool, keyframe: bool, timestamp: int) -> None:
        now = self._clock()
        self.total_bytes += size
        self._bytes.append((now, size))
        if video:
            self._frames.append(now)
        if keyframe:
            if self._last_key_ts is not None and timestamp > self._last_key_ts:
                self.keyframe_interval = (timestamp - self._last_key_ts) / 1000
            self._last_key_ts = timestamp
        horizon = now - 5.0
        while self._bytes and self._bytes[0][0] < horizon:
            self._bytes.popleft()
        while self._frames and self._frames[0] < horizon:
            self._frames.popleft()

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        span = max(1.0, now - self._bytes[0][0]) if self._bytes else 1.0
        fspan = max(1.0, now - self._frames[0]) if self._frames else 1.0
        return {
            "bitrate_kbps": round(sum(s for _, s in self._bytes) * 8 / span / 1000, 1),
            "fps": round(len(self._frames) / fspan, 2),
            "keyframe_interval_s": self.keyframe_interval,
            "total_bytes": self.total_bytes,
        }


class LiveStream:
    """One live session of a channel: survives encoder reconnects within the grace period."""

    def __init__(self, hub: LiveHub, login: str) -> None:
        self.hub = hub
        self.login = login
        self.session_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + secrets.token_hex(3)
        self.started_at = datetime.now(UTC)
        self.state = "starting"
        self.publisher: Publisher | None = None
        self.packager: StreamPackager | None = None
        self.outputs: list[Output] = []
        self.source: SourceInfo | None = None
        self.reconnects = 0
        self.announced = False  # the listener was told this session is live
        self._offline_timer: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self.state in ("live", "reconnecting") and self.packager is not None

    def snapshot(self) -> dict[str, Any]:
        pub = self.publisher
        transcoder = pub.transcoder if pub is not None else None
        health: dict[str, Any] = {"input": pub.stats.snapshot() if pub is not None else None}
        if transcoder is not None:
            th = transcoder.health
            prog = th.progress
            health["transcoder"] = {
                "state": th.state,
                "restarts": th.restarts,
                "pid": transcoder.pid,
                "fps": prog.fps if prog else None,
                "speed": prog.speed if prog else None,
                "drop_frames": prog.drop_frames if prog else None,
                "dup_frames": prog.dup_frames if prog else None,
                "dropped_input_tags": th.dropped_input_tags,
                "last_error": th.last_error,
            }
        renditions = []
        if self.packager is not None:
            renditions = self.packager.describe()
            for r in renditions:
                r["uri"] = f"/hls/{self.login}/{self.session_id}/{r['name']}/index.m3u8"
        return {
            "login": self.login,
            "live": self.live,
            "state": self.state,
            "session_id": self.session_id,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "reconnects": self.reconnects,
            "source": None if self.source is None else {
                "width": self.source.width, "height": self.source.height,
                "fps": self.source.fps, "has_audio": self.source.has_audio,
            },
            "renditions": renditions,
            "health": health,
            "master": f"/hls/{self.login}/master.m3u8",
        }


class Publisher(PublishSink):
    """One RTMP publish feeding a live stream; starts the pipeline at the first keyframe."""

    def __init__(self, hub: LiveHub, stream: LiveStream) -> None:
        self.hub = hub
        self.stream = stream
        self.stats = InputStats(time.monotonic)
        self.transcoder: Transcoder | None = None
        self._metadata: dict[str, Any] = {}
        self._metadata_payload: bytes | None = None
        self._avc_header: bytes | None = None
        self._aac_header: bytes | None = None
        self._audio_seen = False
        self._audio_is_aac = True
        self._ended = False

    def on_metadata(self, timestamp: int, script_tag_payload: bytes) -> None:
        self._metadata_payload = script_tag_payload
        with contextlib.suppress(ProtocolError):
            values = amf0.decode(script_tag_payload)
            for value in values:
                if isinstance(value, dict):
                    self._metadata = dict(value)
        if self.transcoder is not None:
            self.transcoder.on_metadata(script_tag_payload)

    def on_video(self, timestamp: int, payload: bytes) -> None:
        key = is_video_keyframe(payload) and not is_avc_sequence_header(payload)
        self.stats.add(len(payload), video=True, keyframe=key, timestamp=timestamp)
        if is_avc_sequence_header(payload):
            self._avc_header = payload
        if self.transcoder is None and key and self._avc_header is not None and not self._ended:
            self._start_pipeline()
        if self.transcoder is not None:
            self.transcoder.on_video(timestamp, payload)

    def on_audio(self, timestamp: int, payload: bytes) -> None:
        self.stats.add(len(payload), video=False, keyframe=False, timestamp=timestamp)
        self._audio_seen = True
        if payload:
            self._audio_is_aac = (payload[0] >> 4) == 10
        if is_aac_sequence_header(payload):
            self._aac_header = payload
        if self.transcoder is not None:
            self.transcoder.on_audio(timestamp, payload)

    def end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.hub._publisher_ended(self, reason)

    def _source_info(self) -> SourceInfo:
        meta = self._metadata
        width, height = _num(meta.get("width")), _num(meta.get("height"))
        if self._avc_header is not None:
            with contextlib.suppress(H264Error):
                sps = sps_from_flv_sequence_header(self._avc_header)
                width, height = float(sps.width), float(sps.height)
        fps = _num(meta.get("framerate")) or _num(meta.get("fps")) or 30.0
        has_audio = self._audio_seen or self._aac_header is not None or bool(
            meta.get("audiocodecid")
        )
        return SourceInfo(
            width=int(width or 1280),
            height=int(height or 720),
            fps=fps,
            video_kbps=_num(meta.get("videodatarate")) or None,
            has_audio=has_audio,
            audio_is_aac=self._audio_is_aac,
        )

    def _start_pipeline(self) -> None:
        source = self._source_info()
        self.transcoder = self.hub._start_pipeline(self, source)
        if self._metadata_payload is not None:
            self.transcoder.on_metadata(self._metadata_payload)
        if self._avc_header is not None:
            self.transcoder.on_video(0, self._avc_header)
        if self._aac_header is not None:
            self.transcoder.on_audio(0, self._aac_header)


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if value > 0 else 0.0


class _PipelineSink:
    """Routes one transcoder's output into the stream's packagers."""

    def __init__(
        self, publisher: Publisher, packager: StreamPackager, resumed: bool, log: logging.Logger
    ) -> None:
        self._publisher = publisher
        self._stream = publisher.stream
        self._packager = packager
        self._pending_discontinuity = resumed
        self._log = log
        self._broken: set[str] = set()

    def on_start(self, generation: int, anchor_wall: float) -> None:
        if generation > 1 or self._pending_discontinuity:
            self._packager.discontinuity()
            self._broken.clear()
        self._pending_discontinuity = False
        # ffmpeg's output starts at media time 0 = the keyframe ingested at anchor_wall.
        self._packager.set_media_epoch(anchor_wall)

    def on_epoch(self, epoch: float) -> None:
        # Later segments' PROGRAM-DATE-TIME use the refined ingest clock.
        if self._stream.packager is self._packager and self._stream.state != "offline":
            self._packager.set_media_epoch(epoch)

    def on_output(self, name: str, data: bytes) -> None:
        stream = self._stream
        current = stream.publisher
        if stream.packager is not self._packager or stream.state == "offline":
            return  # a flush arriving after the session ended
        if current is not None and current is not self._publisher:
            return  # an old ffmpeg flushing while the reconnected encoder's one runs
        if name in self._broken:
            return
        try:
            self._packager.feed(name, data)
        except Fmp4Error as exc:
            # Unreadable output: drop this rendition until the next (re)start.
            self._broken.add(name)
            self._log.error("%s/%s: bad fMP4 from ffmpeg: %s", stream.login, name, exc)
            return
        if current is self._publisher and stream.state != "live":
            stream.state = "live"
            if not stream.announced:
                stream.announced = True
                stream.hub._announce(stream, live=True)


class LiveHub:
    """All live streams of this node; the RTMP server's publish handler."""

    def __init__(
        self,
        *,
        settings: Settings,
        keys: StreamKeyResolver,
        media_root: Path,
        logger: logging.Logger,
        listener: LiveListener | None = None,
    ) -> None:
        self.listener = listener
        self._settings = settings
        self._keys = keys
        self._media_root = media_root
        self._log = logger
        self._streams: dict[str, LiveStream] = {}
        self._ffmpeg: str | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    # ---- queries ----

    def get(self, login: str) -> LiveStream | None:
        return self._streams.get(login.lower())

    def streams(self) -> list[LiveStream]:
        return [s for s in self._streams.values() if s.live]

    # ---- RTMP publish handler ----

    async def begin_publish(self, app: str, stream_key: str, peer: str) -> PublishSink:
        login = await self._keys.resolve_stream_key(stream_key)
        if login is None:
            self._log.warning(
                "refused publish from %s: unknown or revoked key (%s)",
                peer, redact_key(stream_key),
            )
            raise PublishRefused(BAD_NAME, "unknown or revoked stream key")
        stream = self._streams.get(login)
        if stream is not None and stream.publisher is not None:
            self._log.warning("refused second publisher for %s from %s", login, peer)
            raise PublishRefused(BAD_NAME, f"channel {login} is already live")
        if stream is None:
            stream = LiveStream(self, login)
            self._streams[login] = stream
            self._log.info("%s: publish from %s, session %s", login, peer, stream.session_id)
        else:
            stream.reconnects += 1
            if stream._offline_timer is not None:
                stream._offline_timer.cancel()
                stream._offline_timer = None
            self._log.info("%s: encoder reconnected from %s, same session", login, peer)
        publisher = Publisher(self, stream)
        stream.publisher = publisher
        return publisher

    def _start_pipeline(self, publisher: Publisher, source: SourceInfo) -> Transcoder:
        stream = publisher.stream
        settings = self._settings
        outputs = plan_outputs(
            source, settings.ladder, source_only=settings.transcode_mode == "source_only"
        )
        resumed = stream.packager is not None
        if resumed and [(o.name, o.width, o.height) for o in outputs] != [
            (o.name, o.width, o.height) for o in stream.outputs
        ]:
            # The encoder came back with another picture size: that is a new stream.
            self._log.info("%s: source changed on reconnect; new session", stream.login)
            assert stream.packager is not None
            stream.packager.end()
            stream.packager = None
            resumed = False
        if stream.packager is None:
            stream.packager = StreamPackager(
                renditions=[o.name for o in outputs],
                part_target=settings.part_target,
                segment_target=settings.segment_target,
                window_segments=settings.live_window_segments,
                store_root=self._media_root / stream.login / stream.session_id,
            )
            for out in outputs:
                stream.packager.set_frame_rate(out.name, out.fps)
        stream.outputs = outputs
        stream.source = source
        if self._ffmpeg is None:
            self._ffmpeg = settings.ffmpeg_path()
        transcoder = Transcoder(
            self._ffmpeg, source, outputs,
            _PipelineSink(publisher, stream.packager, resumed, self._log),
            preset=settings.x264_preset,
            segment_seconds=settings.segment_target,
            fragment_seconds=settings.part_target,
            stall_timeout=settings.transcoder_stall_timeout,
            logger=self._log.getChild(stream.login),
        )
        transcoder.start()
        self._log.info(
            "%s: source %dx%d@%.2f, outputs %s", stream.login, source.width, source.height,
            source.fps, ", ".join(o.name for o in outputs),
        )
        return transcoder

    def _publisher_ended(self, publisher: Publisher, reason: str) -> None:
        stream = publisher.stream
        if stream.publisher is not publisher:
            return
        stream.publisher = None
        self._log.info("%s: publisher left (%s)", stream.login, reason)
        transcoder = publisher.transcoder
        if transcoder is not None:
            task = asyncio.get_running_loop().create_task(transcoder.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        if stream.packager is None:
            self._go_offline(stream)
            return
        stream.state = "reconnecting"
        stream._offline_timer = asyncio.get_running_loop().create_task(self._grace(stream))

    async def _grace(self, stream: LiveStream) -> None:
        await asyncio.sleep(self._settings.reconnect_grace)
        if stream.publisher is None:
            self._go_offline(stream)

    def _go_offline(self, stream: LiveStream) -> None:
        stream.state = "offline"
        if stream.packager is not None:
            stream.packager.end()
        if self._streams.get(stream.login) is stream:
            del self._streams[stream.login]
        self._log.info("%s: offline", stream.login)
        if stream.announced:
            stream.announced = False
            self._announce(stream, live=False)

    def _announce(self, stream: LiveStream, *, live: bool) -> None:
        if self.listener is None:
            return
        try:
            if live:
                self.listener.on_live(stream.login, stream.session_id, stream.started_at)
            else:
                self.listener.on_offline(stream.login, stream.session_id)
        except Exception:  # a listener's bug must not take the stream down
            self._log.exception("%s: live listener failed", stream.login)

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            if stream._offline_timer is not None:
                stream._offline_timer.cancel()
            pub = stream.publisher
            if pub is not None and pub.transcoder is not None:
                await pub.transcoder.stop(flush_timeout=2.0)
            self._go_offline(stream)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

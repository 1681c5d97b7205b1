"""Run one ffmpeg per live stream: feed FLV on stdin, read one fMP4 pipe per output, restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from streamhub.protocols.flv import (
    FlvTag,
    flv_header,
    is_aac_sequence_header,
    is_avc_sequence_header,
    is_video_keyframe,
)
from streamhub.transcode.argv import build_argv
from streamhub.transcode.ladder import Output, SourceInfo
from streamhub.transcode.progress import Progress, ProgressParser

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18
MAX_QUEUED_TAGS = 3000
EPOCH_STEP = 0.02  # report epoch refinements of at least 20 ms


class TranscodeSink(Protocol):
    """Receives what ffmpeg writes; implemented by the live hub."""

    def on_start(self, generation: int, anchor_wall: float) -> None:
        """A new ffmpeg instance starts; its media time 0 was ingested at `anchor_wall`."""

    def on_output(self, name: str, data: bytes) -> None:
        """Bytes of the fMP4 stream of output `name` from the current instance."""

    def on_epoch(self, epoch: float) -> None:
        """A better estimate of the wall-clock time of media time 0 (it only decreases)."""


@dataclass(slots=True)
class TranscoderHealth:
    """What the supervisor knows about its ffmpeg (exposed as stream health)."""

    state: str = "starting"
    restarts: int = 0
    progress: Progress | None = None
    last_error: str | None = None
    dropped_input_tags: int = 0


class _PipeReader(asyncio.Protocol):
    def __init__(self, on_data: Callable[[bytes], None], closed: asyncio.Event) -> None:
        self._on_data = on_data
        self._closed = closed

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()


class Transcoder:
    """Supervises ffmpeg for one publish: replays headers on restart, rebases timestamps."""

    def __init__(
        self,
        ffmpeg: str,
        source: SourceInfo,
        outputs: Sequence[Output],
        sink: TranscodeSink,
        *,
        preset: str,
        segment_seconds: float,
        fragment_seconds: float,
        stall_timeout: float,
        logger: logging.Logger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ffmpeg = ffmpeg
        self._source = source
        self._outputs = list(outputs)
        self._sink = sink
        self._preset = preset
        self._segment_seconds = segment_seconds
        self._fragment_seconds = fragment_seconds
        self._stall_timeout = stall_timeout
        self._log = logger
        self._clock = clock
        self.health = TranscoderHealth()
        self._metadata: FlvTag | None = None
        self._avc_header: bytes | None = None
        self._aac_header: bytes | None = None
        # The first instance's queue exists before it spawns, so no early keyframe is lost.
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._base_ts: int | None = None
        # Lowest (arrival wall clock - media time) seen since this instance started: an
        # encoder that starts late and then bursts makes its first frame a poor anchor.
        self._epoch = 0.0
        self._reported_epoch = 0.0
        self._generation = 0
        self._stopping = False
        self._last_output = 0.0
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    # ---- input, called synchronously by the ingest sink ----

    def on_metadata(self, payload: bytes) -> None:
        self._metadata = FlvTag(TAG_SCRIPT, 0, payload)

    def on_video(self, timestamp: int, payload: bytes) -> None:
        if is_avc_sequence_header(payload):
            self._avc_header = payload
        self._push(TAG_VIDEO, timestamp, payload, keyframe=is_video_keyframe(payload))

    def on_audio(self, timestamp: int, payload: bytes) -> None:
        if is_aac_sequence_header(payload):
            self._aac_header = payload
        self._push(TAG_AUDIO, timestamp, payload, keyframe=False)

    def _push(self, tag_type: int, timestamp: int, payload: bytes, *, keyframe: bool) -> None:
        queue = self._queue
        if self._base_ts is None:
            # A fresh ffmpeg starts at a video keyframe, at media time 0.
            if not (tag_type == TAG_VIDEO and keyframe) or is_avc_sequence_header(payload):
                return
            self._base_ts = timestamp
            self._epoch = self._reported_epoch = self._clock()
            self._sink.on_start(self._generation, self._epoch)
            queue.put_nowait(self._header_bytes())
        ts = timestamp - self._base_ts
        if ts < 0:
            return
        epoch = self._clock() - ts / 1000
        if epoch < self._epoch:
            self._epoch = epoch
            if self._reported_epoch - epoch > EPOCH_STEP:
                self._reported_epoch = epoch
                self._sink.on_epoch(epoch)
        if queue.qsize() >= MAX_QUEUED_TAGS:
            self.health.dropped_input_tags += 1
            return
        queue.put_nowait(bytes(FlvTag(tag_type, ts, payload)))

    def _header_bytes(self) -> bytes:
        parts = [flv_header(has_audio=self._source.has_audio, has_video=True)]
        if self._metadata is not None:
            parts.append(bytes(self._metadata))
        if self._avc_header is not None:
            parts.append(bytes(FlvTag(TAG_VIDEO, 0, self._avc_header)))
        if self._aac_header is not None:
            parts.append(bytes(FlvTag(TAG_AUDIO, 0, self._aac_header)))
        return b"".join(parts)

    # ---- lifecycle ----

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="transcoder")

    async def stop(self, *, flush_timeout: float = 5.0) -> None:
        """End input; let ffmpeg flush its last fragments, then make sure it is gone."""
        self._stopping = True
        self._queue.put_nowait(None)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), flush_timeout)
            except TimeoutError:
                self._kill()
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        self.health.state = "stopped"

    def _kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def _supervise(self) -> None:
        attempt = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_once()
            except Exception as exc:  # a failed spawn is retried like a crash
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                self._log.exception("transcoder failed")
            if self._stopping:
                break
            if time.monotonic() - started > 30:
                attempt = 0
            delay = min(0.25 * (2**attempt), 8.0)
            attempt += 1
            self.health.restarts += 1
            self.health.state = "restarting"
            self._log.warning(
                "ffmpeg exited (%s); restart %d in %.2fs",
                self.health.last_error, self.health.restarts, delay,
            )
            await asyncio.sleep(delay)

    async def _run_once(self) -> None:
        loop = asyncio.get_running_loop()
        pipes = [os.pipe() for _ in self._outputs]
        write_fds = [w for _, w in pipes]
        argv = build_argv(
            self._ffmpeg, self._source, self._outputs, write_fds,
            preset=self._preset, segment_seconds=self._segment_seconds,
            fragment_seconds=self._fragment_seconds,
        )
        self._generation += 1
        if self._generation > 1:
            # A restarted instance gets the headers again and starts at the next keyframe.
            self._base_ts = None
            self._queue = asyncio.Queue()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=write_fds,
            )
        finally:
            for w in write_fds:
                os.close(w)
        self._proc = proc
        self.health.state = "running"
        closed: list[asyncio.Event] = []
        transports: list[asyncio.ReadTransport] = []
        try:
            for (r, _), out in zip(pipes, self._outputs, strict=True):
                ev = asyncio.Event()
                closed.append(ev)
                transport, _ = await loop.connect_read_pipe(
                    lambda name=out.name, ev=ev: _PipeReader(self._output(name), ev),  # type: ignore[misc]
                    os.fdopen(r, "rb", buffering=0),
                )
                transports.append(transport)
            self._last_output = time.monotonic()
            tasks = [
                asyncio.create_task(self._feed(proc)),
                asyncio.create_task(self._read_stderr(proc)),
                asyncio.create_task(self._watch_stall(proc)),
            ]
            rc = await proc.wait()
            self.health.last_error = f"exit code {rc}"
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Drain whatever the pipes still hold before the next instance starts.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in closed)), 2.0)
        finally:
            for transport in transports:
                transport.close()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    def _output(self, name: str) -> Callable[[bytes], None]:
        def deliver(data: bytes) -> None:
            self._last_output = time.monotonic()
            self._sink.on_output(name, data)

        return deliver

    async def _feed(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        queue = self._queue
        try:
            while True:
                chunk = await queue.get()
                if chunk is None:
                    proc.stdin.close()
                    return
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.health.last_error = f"stdin closed: {exc}"

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        parser = ProgressParser()
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            progress = parser.feed_line(line.decode("utf-8", "replace"))
            if progress is not None:
                self.health.progress = progress
            elif parser.messages:
                self._log.debug("ffmpeg: %s", parser.messages[-1])
                self.health.last_error = parser.messages[-1]

    async def _watch_stall(self, proc: asyncio.subprocess.Process) -> None:
        """Kill ffmpeg when input flows but no output came for `stall_timeout`."""
        interval = min(1.0, self._stall_timeout / 4)
        while proc.returncode is None:
            await asyncio.sleep(interval)
            waiting = self._base_ts is not None
            if waiting and time.monotonic() - self._last_output > self._stall_timeout:
                self.health.last_error = f"stalled: no output for {self._stall_timeout:.0f}s"
                self._log.warning("ffmpeg stalled; killing pid %s", proc.pid)
                self._kill()
                return

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def generation(self) -> int:
        return self._generation

"""Component tests: RtmpServer on 127.0.0.1:0 against real RTMP clients and hostile sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import imageio_ffmpeg
import pytest

from streamhub.ingest.server import PublishRefused, PublishSink, RtmpServer
from streamhub.protocols.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    is_aac_sequence_header,
    is_avc_sequence_header,
    is_video_keyframe,
)
from streamhub.protocols.rtmp import amf0

GOOD_KEY = "sk_live_Secret123"
OTHER_KEY = "sk_live_Other456"
DEBIAN_FFMPEG = "/usr/bin/ffmpeg"
GST_LAUNCH = shutil.which("gst-launch-1.0")
GST_INSPECT = shutil.which("gst-inspect-1.0")


@dataclass
class RecordingSink:
    key: str
    tags: list[tuple[int, int, bytes]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def on_metadata(self, timestamp: int, script_tag_payload: bytes) -> None:
        self.tags.append((TAG_SCRIPT, timestamp, script_tag_payload))

    def on_video(self, timestamp: int, payload: bytes) -> None:
        self.tags.append((TAG_VIDEO, timestamp, payload))

    def on_audio(self, timestamp: int, payload: bytes) -> None:
        self.tags.append((TAG_AUDIO, timestamp, payload))

    def end(self, reason: str) -> None:
        self.ended.append(reason)
        self.on_end(self)

    on_end: Callable[[RecordingSink], None] = lambda sink: None

    def of_type(self, tag_type: int) -> list[tuple[int, bytes]]:
        return [(ts, p) for t, ts, p in self.tags if t == tag_type]


@dataclass
class Handler:
    keys: set[str] = field(default_factory=lambda: {GOOD_KEY, OTHER_KEY})
    sinks: list[RecordingSink] = field(default_factory=list)
    live: set[str] = field(default_factory=set)

    async def begin_publish(self, app: str, stream_key: str, peer: str) -> PublishSink:
        assert app == "live"
        if stream_key not in self.keys:
            raise PublishRefused("NetStream.Publish.BadName", "Unknown stream key.")
        if stream_key in self.live:
            raise PublishRefused("NetStream.Publish.Denied", "Already live.")
        self.live.add(stream_key)
        sink = RecordingSink(stream_key, on_end=lambda s: self.live.discard(s.key))
        self.sinks.append(sink)
        return sink

    def sink(self, key: str) -> RecordingSink | None:
        return next((s for s in self.sinks if s.key == key), None)


@pytest.fixture
async def server() -> AsyncIterator[tuple[RtmpServer, Handler]]:
    handler = Handler()
    srv = RtmpServer(handler, handshake_timeout=5.0, idle_timeout=10.0)
    await srv.start()
    try:
        yield srv, handler
    finally:
        await srv.close()


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met within deadline")
        await asyncio.sleep(0.05)


class Client:
    """A publishing subprocess that is always killed."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Client:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return self

    async def wait(self, timeout: float = 60.0) -> tuple[int, str]:
        assert self.proc is not None
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        assert self.proc.returncode is not None
        return self.proc.returncode, err.decode(errors="replace")

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def ffmpeg_argv(exe: str, url: str, seconds: int = 3) -> list[str]:
    return [
        exe, "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
        "-c:a", "aac", "-f", "flv", url,
    ]  # fmt: skip


def url(srv: RtmpServer, key: str, app: str = "live") -> str:
    return f"rtmp://127.0.0.1:{srv.port}/{app}/{key}"


def assert_good_publish(sink: RecordingSink, seconds: float = 3.0, audio: bool = True) -> None:
    metadata = sink.of_type(TAG_SCRIPT)
    video = sink.of_type(TAG_VIDEO)
    assert metadata, "no onMetaData"
    name, offset = amf0.decode_value(metadata[0][1])
    assert name == "onMetaData"
    values, _ = amf0.decode_value(metadata[0][1], offset)
    assert isinstance(values, dict)
    assert video and is_avc_sequence_header(video[0][1])
    keyframes = [ts for ts, p in video if is_video_keyframe(p) and not is_avc_sequence_header(p)]
    assert len(keyframes) >= 2
    video_ts = [ts for ts, _ in video]
    assert video_ts == sorted(video_ts)
    assert video_ts[-1] - video_ts[0] >= (seconds - 0.5) * 1000
    if audio:
        audio_tags = sink.of_type(TAG_AUDIO)
        assert audio_tags and is_aac_sequence_header(audio_tags[0][1])
        audio_ts = [ts for ts, _ in audio_tags]
        assert audio_ts == sorted(audio_ts)
        assert audio_ts[-1] - audio_ts[0] >= (seconds - 0.5) * 1000
    assert len(sink.ended) == 1


async def publish_and_check(
    srv: RtmpServer, handler: Handler, argv: list[str], key: str = GOOD_KEY, audio: bool = True
) -> None:
    async with Client(argv) as client:
        code, err = await client.wait()
        assert code == 0, err
    await wait_for(lambda: (s := handler.sink(key)) is not None and bool(s.ended))
    sink = handler.sink(key)
    assert sink is not None
    assert_good_publish(sink, audio=audio)


def assert_keys_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    for key in (GOOD_KEY, OTHER_KEY, "sk_wrong_key"):
        assert key not in caplog.text


async def test_ffmpeg9_native_client_publishes(
    server: tuple[RtmpServer, Handler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    await publish_and_check(srv, handler, ffmpeg_argv(exe, url(srv, GOOD_KEY)))
    assert handler.sinks[0].ended == ["unpublished (FCUnpublish)"]
    assert "publishing app=live key#" in caplog.text
    assert_keys_not_logged(caplog)


def missing_client(what: str) -> None:
    """Skip on a developer machine without the client; under CI (.ci/run installs it) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; .ci/run should have installed it")
    pytest.skip(f"{what} is not installed")


async def test_debian_ffmpeg_client_publishes(server: tuple[RtmpServer, Handler]) -> None:
    if not os.path.exists(DEBIAN_FFMPEG):
        missing_client("Debian's /usr/bin/ffmpeg")
    srv, handler = server
    await publish_and_check(srv, handler, ffmpeg_argv(DEBIAN_FFMPEG, url(srv, GOOD_KEY)))


def gst_has(*elements: str) -> bool:
    if GST_LAUNCH is None or GST_INSPECT is None:
        return False
    for element in elements:
        probe = subprocess.run(
            [GST_INSPECT, "--exists", element], capture_output=True, timeout=30, check=False
        )
        if probe.returncode != 0:
            return False
    return True


GST_BASE = ("videotestsrc", "x264enc", "h264parse", "flvmux", "audiotestsrc", "aacparse")


def gst_aac_encoder() -> str | None:
    for encoder in ("voaacenc", "avenc_aac", "fdkaacenc"):
        if gst_has(encoder):
            return encoder
    return None


def gst_argv(sink: str) -> list[str]:
    assert GST_LAUNCH is not None
    encoder = gst_aac_encoder()
    assert encoder is not None
    pipeline = (
        "videotestsrc is-live=true num-buffers=90 "
        "! video/x-raw,width=320,height=240,framerate=30/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
        "! h264parse ! queue ! flvmux name=m streamable=true "
        f"! {sink} "
        "audiotestsrc is-live=true num-buffers=130 ! audioconvert "
        f"! {encoder} ! aacparse ! queue ! m."
    )
    return [GST_LAUNCH, "-q", "-e", *pipeline.split()]


@pytest.mark.parametrize(
    ("element", "implementation"),
    [("rtmp2sink", "GStreamer rtmp2 (own client)"), ("rtmpsink", "librtmp")],
)
async def test_gstreamer_client_publishes(
    server: tuple[RtmpServer, Handler], element: str, implementation: str
) -> None:
    if not gst_has(*GST_BASE, element) or gst_aac_encoder() is None:
        missing_client(f"GStreamer {element} ({implementation}) or its encoders")
    srv, handler = server
    location = url(srv, GOOD_KEY)
    if element == "rtmpsink":
        location += " live=1"  # librtmp option syntax
    argv = gst_argv(f"{element} location=LOCATION")
    argv[argv.index("location=LOCATION")] = f"location={location}"
    await publish_and_check(srv, handler, argv)


async def test_wrong_key_is_refused_and_never_logged(
    server: tuple[RtmpServer, Handler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    async with Client(ffmpeg_argv(exe, url(srv, "sk_wrong_key"), seconds=2)) as client:
        code, err = await client.wait()
    assert code != 0
    assert "Unknown stream key" in err
    assert handler.sinks == []
    await wait_for(lambda: "publish refused" in caplog.text)
    assert "NetStream.Publish.BadName" in caplog.text
    assert_keys_not_logged(caplog)


async def test_wrong_app_is_refused(server: tuple[RtmpServer, Handler]) -> None:
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    async with Client(ffmpeg_argv(exe, url(srv, GOOD_KEY, app="other"), seconds=2)) as client:
        code, err = await client.wait()
    assert code != 0
    assert "unknown application" in err
    assert handler.sinks == []


async def test_already_live_key_is_refused(server: tuple[RtmpServer, Handler]) -> None:
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    async with Client(ffmpeg_argv(exe, url(srv, GOOD_KEY), seconds=4)) as first:
        await wait_for(lambda: (s := handler.sink(GOOD_KEY)) is not None and len(s.tags) > 5)
        async with Client(ffmpeg_argv(exe, url(srv, GOOD_KEY), seconds=2)) as second:
            code, err = await second.wait()
            assert code != 0
            assert "Already live" in err
        code, err = await first.wait()
        assert code == 0, err
    assert len(handler.sinks) == 1


async def test_two_concurrent_publishers(server: tuple[RtmpServer, Handler]) -> None:
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    await asyncio.gather(
        publish_and_check(srv, handler, ffmpeg_argv(exe, url(srv, GOOD_KEY)), GOOD_KEY),
        publish_and_check(srv, handler, ffmpeg_argv(exe, url(srv, OTHER_KEY)), OTHER_KEY),
    )
    assert sorted(s.key for s in handler.sinks) == sorted([GOOD_KEY, OTHER_KEY])


# -- hostile raw sockets ---------------------------------------------------------------


async def raw_handshake(srv: RtmpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"\x03" + bytes(1536))
    s0s1s2 = await asyncio.wait_for(reader.readexactly(1 + 2 * 1536), 10)
    writer.write(s0s1s2[1:1537])  # C2 echoes S1
    await writer.drain()
    return reader, writer


async def assert_closed_by_server(reader: asyncio.StreamReader) -> None:
    async def drain_until_eof() -> None:
        while await reader.read(65536):
            pass

    await asyncio.wait_for(drain_until_eof(), 10)


def connect_chunk_header(length: int) -> bytes:
    # fmt 0, csid 3, timestamp 0, length, type 20 (AMF0 command), stream 0
    return bytes([3]) + bytes(3) + length.to_bytes(3, "big") + bytes([20]) + bytes(4)


async def hostile_garbage(srv: RtmpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(os.urandom(4096))
    await assert_closed_by_server(reader)
    writer.close()


async def hostile_continuation_without_header(srv: RtmpServer) -> None:
    reader, writer = await raw_handshake(srv)
    writer.write(bytes([0xC3]) + os.urandom(200))
    await assert_closed_by_server(reader)
    writer.close()


async def hostile_huge_message(srv: RtmpServer) -> None:
    reader, writer = await raw_handshake(srv)
    writer.write(connect_chunk_header(0xFFFFFF) + bytes(64))
    await assert_closed_by_server(reader)
    writer.close()


async def hostile_truncated_then_eof(srv: RtmpServer) -> None:
    reader, writer = await raw_handshake(srv)
    body = amf0.encode("connect", 1.0, {"app": "live"})
    writer.write(connect_chunk_header(len(body)) + body[:10])
    writer.write_eof()
    await assert_closed_by_server(reader)
    writer.close()


async def hostile_bad_amf(srv: RtmpServer) -> None:
    reader, writer = await raw_handshake(srv)
    body = b"\x02\x00\x07connect\x00" + b"\x40" * 4 + b"\x11\x11"  # AMF3 switch
    writer.write(connect_chunk_header(len(body)) + body)
    await assert_closed_by_server(reader)
    writer.close()


HOSTILE = [
    hostile_garbage,
    hostile_continuation_without_header,
    hostile_huge_message,
    hostile_truncated_then_eof,
    hostile_bad_amf,
]


async def test_hostile_connections_do_not_disturb_publishes(
    server: tuple[RtmpServer, Handler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    async with Client(ffmpeg_argv(exe, url(srv, OTHER_KEY), seconds=4)) as concurrent:
        await wait_for(lambda: (s := handler.sink(OTHER_KEY)) is not None and len(s.tags) > 5)
        await asyncio.gather(*(attack(srv) for attack in HOSTILE))
        code, err = await concurrent.wait()
        assert code == 0, err
    await wait_for(lambda: (s := handler.sink(OTHER_KEY)) is not None and bool(s.ended))
    sink = handler.sink(OTHER_KEY)
    assert sink is not None
    assert_good_publish(sink, seconds=4)
    assert caplog.text.count("protocol error") >= 4
    # The server still takes a fresh publish afterwards.
    await publish_and_check(srv, handler, ffmpeg_argv(exe, url(srv, GOOD_KEY)))
    await wait_for(lambda: srv.connection_count == 0)


async def test_handshake_timeout_closes_silent_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    srv = RtmpServer(Handler(), handshake_timeout=0.3)
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"\x03" + bytes(100))  # C0 + partial C1, then silence
        await assert_closed_by_server(reader)
        writer.close()
        await wait_for(lambda: "handshake timeout" in caplog.text)
    finally:
        await srv.close()


async def test_close_ends_active_sinks(server: tuple[RtmpServer, Handler]) -> None:
    srv, handler = server
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    async with Client(ffmpeg_argv(exe, url(srv, GOOD_KEY), seconds=10)) as client:
        await wait_for(lambda: (s := handler.sink(GOOD_KEY)) is not None and len(s.tags) > 5)
        await srv.close()
        sink = handler.sink(GOOD_KEY)
        assert sink is not None
        assert sink.ended == ["server closing"]
        code, _ = await client.wait()
        assert code != 0
    assert srv.connection_count == 0


async def test_handler_exception_closes_only_that_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exploding(Handler):
        async def begin_publish(self, app: str, stream_key: str, peer: str) -> PublishSink:
            if stream_key == OTHER_KEY:
                raise RuntimeError("boom")
            return await super().begin_publish(app, stream_key, peer)

    handler = Exploding()
    srv = RtmpServer(handler)
    await srv.start()
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        async with Client(ffmpeg_argv(exe, url(srv, OTHER_KEY), seconds=2)) as bad:
            code, _ = await bad.wait()
            assert code != 0
        assert "publish handler failed" in caplog.text
        await publish_and_check(srv, handler, ffmpeg_argv(exe, url(srv, GOOD_KEY)))
    finally:
        await srv.close()


async def test_idle_timeout_and_connection_limit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    srv = RtmpServer(Handler(), idle_timeout=0.3, max_connections=1)
    await srv.start()
    try:
        reader, writer = await raw_handshake(srv)
        await wait_for(lambda: srv.connection_count == 1)
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", srv.port)
        await assert_closed_by_server(extra_reader)
        extra_writer.close()
        await wait_for(lambda: "too many connections" in caplog.text)
        await assert_closed_by_server(reader)  # silent after the handshake
        writer.close()
        await wait_for(lambda: "idle timeout" in caplog.text)
    finally:
        await srv.close()

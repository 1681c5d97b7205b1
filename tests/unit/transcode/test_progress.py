"""ffmpeg -progress parsing into health figures."""

from streamhub.transcode.progress import ProgressParser

BLOCK = """frame=120
fps=29.97
stream_0_0_q=-1.0
bitrate=2987.4kbits/s
total_size=1493700
out_time_us=4000000
out_time=00:00:04.000000
dup_frames=1
drop_frames=2
speed=1.01x
progress=continue
"""


def test_block_yields_progress() -> None:
    p = ProgressParser()
    results = [p.feed_line(line) for line in BLOCK.splitlines()]
    assert results[:-1] == [None] * (len(results) - 1)
    last = results[-1]
    assert last is not None
    assert (last.frame, last.fps, last.speed, last.drop_frames, last.dup_frames) == (
        120, 29.97, 1.01, 2, 1)
    assert last.bitrate_kbps == 2987.4
    assert last.out_time_s == 4.0


def test_log_lines_and_na_values() -> None:
    p = ProgressParser()
    assert p.feed_line("[flv @ 0x1] Packet mismatch 123 4567 890") is None
    assert p.messages == ["[flv @ 0x1] Packet mismatch 123 4567 890"]
    for line in ("fps=N/A", "speed=N/A", "bitrate=N/A"):
        assert p.feed_line(line) is None
    got = p.feed_line("progress=end")
    assert got is not None and got.fps == 0.0 and got.speed == 0.0

"""The transcoder's ingest-clock epoch: anchored at the first keyframe, refined downwards."""

import logging

from streamhub.transcode.ladder import SourceInfo
from streamhub.transcode.supervisor import Transcoder

KEY = b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x01\x65"
INTER = b"\x27\x01\x00\x00\x00" + b"\x00\x00\x00\x01\x41"
SEQ = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x00"


class Sink:
    def __init__(self) -> None:
        self.starts: list[tuple[int, float]] = []
        self.epochs: list[float] = []

    def on_start(self, generation: int, anchor_wall: float) -> None:
        self.starts.append((generation, anchor_wall))

    def on_output(self, name: str, data: bytes) -> None:
        pass

    def on_epoch(self, epoch: float) -> None:
        self.epochs.append(epoch)


def test_epoch_is_refined_by_the_promptest_frames() -> None:
    now = [100.0]
    sink = Sink()
    t = Transcoder("ffmpeg", SourceInfo(640, 360, 30.0), [], sink, preset="ultrafast",
                   segment_seconds=2, fragment_seconds=0.2, stall_timeout=5,
                   logger=logging.getLogger("t"), clock=lambda: now[0])
    t.on_video(5000, SEQ)  # a sequence header never anchors
    t.on_video(5000, INTER)  # nor does an inter frame
    assert sink.starts == []
    now[0] = 100.7  # the first keyframe arrives late (encoder start-up)
    t.on_video(5000, KEY)
    assert sink.starts == [(0, 100.7)]
    now[0] = 100.9  # media 0.5 s arrived at 100.9: epoch 100.4
    t.on_video(5500, INTER)
    assert sink.epochs == [100.4]
    now[0] = 101.395  # 1.0 s at 101.395: only 5 ms better, not reported
    t.on_video(6000, INTER)
    assert sink.epochs == [100.4]
    now[0] = 101.45  # late frames never move it up
    t.on_video(6033, INTER)
    now[0] = 101.8  # 1.5 s at 101.8: 100.3 is 100 ms better
    t.on_video(6500, INTER)
    assert sink.epochs == [100.4, 100.3]

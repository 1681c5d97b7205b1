"""H.264 parameter sets: picture size from the SPS inside an FLV AVC sequence header (pure)."""

from __future__ import annotations

from dataclasses import dataclass

_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class H264Error(ValueError):
    """The parameter set is malformed or truncated."""


@dataclass(frozen=True, slots=True)
class SpsInfo:
    profile_idc: int
    level_idc: int
    width: int
    height: int


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self._pos >> 3
            if byte >= len(self._data):
                raise H264Error("SPS is truncated")
            value = (value << 1) | ((self._data[byte] >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise H264Error("SPS has an exp-Golomb code over 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _unescape(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def parse_sps(nal: bytes) -> SpsInfo:
    """Parse an SPS NAL unit (with its one-byte NAL header)."""
    if not nal or nal[0] & 0x1F != 7:
        raise H264Error("not an SPS NAL unit")
    r = _Bits(_unescape(nal[1:]))
    profile = r.u(8)
    r.u(8)
    level = r.u(8)
    r.ue()
    chroma = 1
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            r.u(1)
        r.ue()
        r.ue()
        r.u(1)
        if r.u(1):
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):
                    last, nxt = 8, 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt or last
    r.ue()
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()
    r.u(1)
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)
    r.u(1)
    crop = (0, 0, 0, 0)
    if r.u(1):
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    sub_w = 2 if chroma in (1, 2) else 1
    sub_h = 2 if chroma == 1 else 1
    unit_x = sub_w if chroma else 1
    unit_y = (sub_h if chroma else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - (crop[0] + crop[1]) * unit_x
    height = (2 - frame_mbs_only) * height_units * 16 - (crop[2] + crop[3]) * unit_y
    if width <= 0 or height <= 0:
        raise H264Error("SPS gives an empty picture")
    return SpsInfo(profile, level, width, height)


def sps_from_flv_sequence_header(payload: bytes) -> SpsInfo:
    """The first SPS of an FLV AVC sequence header (codec id 7, packet type 0)."""
    if len(payload) < 5 or payload[0] & 0x0F != 7 or payload[1] != 0:
        raise H264Error("not an FLV AVC sequence header")
    record = payload[5:]
    if len(record) < 8 or record[0] != 1:
        raise H264Error("bad AVCDecoderConfigurationRecord")
    count = record[5] & 0x1F
    if count < 1:
        raise H264Error("AVC configuration has no SPS")
    length = int.from_bytes(record[6:8], "big")
    sps = record[8 : 8 + length]
    if len(sps) != length:
        raise H264Error("SPS is truncated")
    return parse_sps(sps)

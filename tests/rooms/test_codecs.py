"""A room's one video codec (``server/rooms/codecs.py``)."""

from __future__ import annotations

import pytest

from server.errors import ErrorCode
from server.rooms.codecs import (
    UNDECLARED,
    CodecUnsupported,
    RoomVideoCodec,
    VideoCodec,
    decodable,
    first_choice,
)

VP8, H264 = VideoCodec.VP8, VideoCodec.H264
BOTH = frozenset({VP8, H264})


def test_declared_names_are_read_case_insensitively_and_unknown_ones_dropped() -> None:
    assert decodable(["VP8", "H264"]) == BOTH
    assert decodable(["h264"]) == {H264}
    assert decodable(["AV1", "VP9", "vp8"]) == {VP8}
    assert decodable(["AV1"]) == frozenset()
    # A page that declares nothing predates the declaration: VP8 only.
    assert decodable(None) == UNDECLARED == {VP8}
    assert decodable([]) == frozenset()


def test_first_choice_honours_the_preference_when_it_can() -> None:
    assert first_choice(BOTH, VP8) is VP8
    assert first_choice(BOTH, H264) is H264
    assert first_choice(frozenset({H264}), VP8) is H264
    assert first_choice(frozenset({VP8}), H264) is VP8
    assert first_choice(frozenset(), VP8) is None


def test_the_first_joiner_decides_and_later_ones_must_decode_it() -> None:
    room = RoomVideoCodec(VP8)
    assert room.codec is None
    assert room.admit("iphone", frozenset({H264})) is H264
    assert room.admit("laptop", BOTH) is H264
    with pytest.raises(CodecUnsupported) as refused:
        room.choose("old-page", UNDECLARED)
    assert refused.value.code is ErrorCode.CODEC_UNSUPPORTED
    assert refused.value.params == {"codec": "H264"}
    # The refused one is not counted.
    assert room.connected == {"iphone", "laptop"}


def test_the_station_preference_decides_for_a_joiner_who_decodes_both() -> None:
    assert RoomVideoCodec(H264).admit("laptop", BOTH) is H264
    assert RoomVideoCodec(VP8).admit("laptop", BOTH) is VP8
    room = RoomVideoCodec(VP8)
    room.admit("laptop", BOTH)
    with pytest.raises(CodecUnsupported):
        room.admit("iphone", frozenset({H264}))


def test_a_joiner_who_decodes_nothing_forwarded_is_refused_even_first() -> None:
    room = RoomVideoCodec(VP8)
    with pytest.raises(CodecUnsupported) as refused:
        room.admit("odd", frozenset())
    assert refused.value.params == {}
    assert room.codec is None and room.connected == frozenset()


def test_the_choice_is_forgotten_when_the_last_one_goes() -> None:
    room = RoomVideoCodec(VP8)
    room.admit("a", frozenset({H264}))
    room.admit("b", BOTH)
    room.release("a")
    assert room.codec is H264  # b is still there
    room.release("b")
    room.release("b")  # twice is harmless
    assert room.codec is None
    assert room.admit("c", UNDECLARED) is VP8


def test_a_new_tab_of_the_only_participant_decides_afresh() -> None:
    room = RoomVideoCodec(VP8)
    room.admit("a", frozenset({H264}))
    # The same person on another browser that decodes only VP8, nobody else there.
    assert room.choose("a", UNDECLARED) is VP8
    assert room.admit("a", UNDECLARED) is VP8
    room.admit("b", BOTH)
    # With someone else connected, their own new tab must fit the room.
    with pytest.raises(CodecUnsupported):
        room.choose("a", frozenset({H264}))

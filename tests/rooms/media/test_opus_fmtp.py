"""The rewrite of the server's answer that asks publishers for Opus FEC and DTX."""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from server.rooms.media.opus_fmtp import ask_for_opus_fec

ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=recvonly",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=recvonly",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "",
    ]
)


def test_an_answer_without_opus_parameters_gets_fec_and_dtx() -> None:
    out = ask_for_opus_fec(ANSWER)
    lines = out.split("\r\n")
    at = lines.index("a=rtpmap:111 opus/48000/2")
    assert lines[at + 1] == "a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1"
    # The video section is untouched, and aiortc reads the parameters back.
    assert "a=fmtp:97 apt=96" in lines
    parsed = SessionDescription.parse(out)
    opus = parsed.media[0].rtp.codecs[0]
    assert {k: str(v) for k, v in opus.parameters.items()} == {
        "minptime": "10",
        "useinbandfec": "1",
        "usedtx": "1",
    }
    assert parsed.media[1].rtp.codecs[1].parameters == {"apt": 96}


def test_existing_parameters_are_kept_and_ours_replace_same_names() -> None:
    sdp = ANSWER.replace(
        "a=rtpmap:111 opus/48000/2\r\n",
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;useinbandfec=0\r\n",
    )
    lines = ask_for_opus_fec(sdp).split("\r\n")
    fmtp = [line for line in lines if line.startswith("a=fmtp:111")]
    assert fmtp == ["a=fmtp:111 stereo=1;minptime=10;useinbandfec=1;usedtx=1"]


def test_an_sdp_without_opus_is_returned_unchanged() -> None:
    sdp = ANSWER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000")
    assert ask_for_opus_fec(sdp) == sdp


def test_applying_twice_changes_nothing_more() -> None:
    once = ask_for_opus_fec(ANSWER)
    assert ask_for_opus_fec(once) == once

"""Pure H.264 RTP payload reading for packet-level forwarding (no aiortc, no I/O).

The forwarder never decodes: to start (or restart) a subscriber's video it
only needs to know, packet by packet, where a decoder can begin. For H.264 in
packetization mode 1 (RFC 6184: single NAL units, STAP-A aggregates and FU-A
fragments, in decoding order) that is where an IDR access unit begins:

- at its sequence parameter set (SPS, NAL type 7), when the encoder sends the
  parameter sets in band before the IDR slice, as browsers' and x264's
  encoders do. The SPS (alone, or first in a STAP-A with the PPS and perhaps
  the IDR itself) comes *before* the IDR slice, often in an earlier packet of
  the same timestamp; starting at the IDR slice's own packet would drop the
  parameter sets a fresh decoder needs;
- at the IDR slice itself (NAL type 5: a single NAL unit, inside a STAP-A, or
  the FU-A fragment with the start bit) when no SPS precedes it (parameter
  sets sent once, or out of band in ``sprop-parameter-sets``).

A PPS (type 8) alone is not a start: an SPS precedes it in any stream that
sends them in band. STAP-B, MTAP and FU-B (packetization mode 2) are never
negotiated, so they are not read.
"""

from __future__ import annotations

from typing import Final

#: NAL unit types (ITU-T H.264 table 7-1; RFC 6184 section 5.4 for 24-29).
NAL_IDR: Final = 5
NAL_SEI: Final = 6
NAL_SPS: Final = 7
NAL_PPS: Final = 8
NAL_STAP_A: Final = 24
NAL_FU_A: Final = 28

_TYPE_MASK = 0x1F
_FU_START = 0x80


def nal_types_started(payload: bytes) -> tuple[int, ...]:
    """The types of the NAL units that *begin* in this RTP payload, in order.

    A single NAL unit packet gives its one type; a STAP-A the type of each
    aggregated unit (up to the first truncated one); an FU-A the fragmented
    unit's type if this is its first fragment (start bit set), else nothing.
    Anything else (empty, or a mode-2 packet type) gives nothing.
    """
    if not payload:
        return ()
    nal_type = payload[0] & _TYPE_MASK
    if 1 <= nal_type <= 23:
        return (nal_type,)
    if nal_type == NAL_STAP_A:
        types: list[int] = []
        at = 1
        while at + 2 < len(payload):
            size = int.from_bytes(payload[at : at + 2], "big")
            at += 2
            if size == 0 or at + size > len(payload):
                break  # truncated or malformed: what came before still counts
            types.append(payload[at] & _TYPE_MASK)
            at += size
        return tuple(types)
    if nal_type == NAL_FU_A:
        if len(payload) >= 2 and payload[1] & _FU_START:
            return (payload[1] & _TYPE_MASK,)
        return ()
    return ()


def h264_keyframe_start(payload: bytes) -> bool:
    """Whether a decoder can start at this H.264 RTP payload (an IDR access unit begins).

    True for a payload that begins an SPS (the parameter sets in front of an
    IDR slice) or an IDR slice; see the module docstring for why both.
    """
    types = nal_types_started(payload)
    return NAL_SPS in types or NAL_IDR in types

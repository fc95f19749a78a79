"""What the media server asks of every publisher's Opus encoder, written into its answer.

A phone on a bad link loses packets on its way up; the server forwards what
arrives and decodes nothing, so the only repair for lost speech is in the
packets themselves. Opus in-band FEC (RFC 7587 section 6.1: ``useinbandfec=1``)
has the encoder carry a coarse copy of each frame in the next packet, which the
subscribers' decoders use when a packet is missing; DTX (``usedtx=1``) sends
almost nothing during silence, which on a slow link leaves room for the speech.
Both parameters describe what the *receiver* of the Opus stream wants, so they
belong in the server's answer to a publisher's offer: a browser's encoder reads
them from the remote description. aiortc's answer carries no Opus parameters
at all, hence this small rewrite of the answer's text before it is set (public
API only: aiortc keeps whatever ``setLocalDescription`` is given).
"""

from __future__ import annotations

import re

#: The parameters asked for, in the order written (``minptime=10`` is what
#: browsers themselves write; it keeps 10 ms frames allowed).
OPUS_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("minptime", "10"),
    ("useinbandfec", "1"),
    ("usedtx", "1"),
)

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000(?:/2)?$", re.IGNORECASE)


def ask_for_opus_fec(sdp: str) -> str:
    """``sdp`` with FEC and DTX asked for on every Opus payload type it maps.

    An existing ``a=fmtp`` line for the payload type keeps its other
    parameters; ours replace same-named ones. Lines end as they ended
    (``\\r\\n`` in SDP); everything else is left byte for byte.
    """
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    opus_types = {m.group(1) for line in lines if (m := _RTPMAP.match(line))}
    if not opus_types:
        return sdp
    out: list[str] = []
    with_fmtp = {
        line.split(":", 1)[1].split(" ", 1)[0]
        for line in lines
        if line.startswith("a=fmtp:") and line.split(":", 1)[1].split(" ", 1)[0] in opus_types
    }
    for line in lines:
        if line.startswith("a=fmtp:"):
            payload_type, _, params = line[len("a=fmtp:") :].partition(" ")
            if payload_type in opus_types:
                out.append(f"a=fmtp:{payload_type} {_merge(params)}")
                continue
        out.append(line)
        match = _RTPMAP.match(line)
        if match and match.group(1) not in with_fmtp:
            out.append(f"a=fmtp:{match.group(1)} {_merge('')}")
    return newline.join(out)


def _merge(params: str) -> str:
    wanted = dict(OPUS_PARAMETERS)
    kept = [
        p.strip()
        for p in params.split(";")
        if p.strip() and p.split("=", 1)[0].strip().lower() not in wanted
    ]
    return ";".join([*kept, *(f"{k}={v}" for k, v in OPUS_PARAMETERS)])

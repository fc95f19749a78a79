"""Each private name ``server/rooms/aiortc_adapter/`` reaches into, checked by name.

``tests/rooms/test_aiortc_adapter.py`` shows the hooks work end to end; this
says, when an upgrade breaks one, exactly which name moved and which pin in
pyproject.toml (and requirements.lock) to review, instead of a media plane
that goes quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import aioice
import aioice.ice
import av.packet
import av.stream
import pylibsrtp
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import names
from tests.rooms.media_clients import client_configuration


@dataclass
class Objects:
    """One of each object the adapter hooks, from a real (unconnected) peer connection."""

    receiver: RTCRtpReceiver
    sender: RTCRtpSender
    dtls: RTCDtlsTransport
    ice: RTCIceTransport
    gatherer: RTCIceGatherer
    connection: aioice.Connection


@pytest.fixture
async def objects() -> AsyncIterator[Objects]:
    pc = RTCPeerConnection(client_configuration())
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        sender = transceiver.sender
        dtls = sender.transport
        ice = dtls.transport
        gatherer = ice.iceGatherer
        connection = getattr(gatherer, names._GATHERER_CONNECTION, None)
        assert isinstance(connection, aioice.Connection), _review(
            "aiortc", f"RTCIceGatherer.{names._GATHERER_CONNECTION} is not an aioice.Connection"
        )
        yield Objects(transceiver.receiver, sender, dtls, ice, gatherer, connection)
    finally:
        await pc.close()


def _review(package: str, what: str) -> str:
    return (
        f"{what} in {package} {version(package)}: server/rooms/aiortc_adapter/ relies on it. "
        f"Review the {package} pin in pyproject.toml and requirements.lock (the adapter was "
        f"written against aiortc {adapter.AIORTC_VERSION}) and update the adapter with it."
    )


def _has(owner: Any, name: str, package: str, *, instance: bool = False) -> None:
    where = vars(owner) if instance else dir(owner)
    kind = type(owner).__name__ if instance else getattr(owner, "__name__", repr(owner))
    assert name in where, _review(
        package, f"{kind} has no {'attribute' if instance else 'member'} {name!r}"
    )


def test_receiver_names(objects: Objects) -> None:
    for name in (
        names._RX_DECODER_QUEUE,
        names._RX_JITTER_BUFFER,
        names._RX_DECODER_THREAD,
        names._RX_RTX_SSRC,
    ):
        _has(objects.receiver, name, "aiortc", instance=True)
    _has(RTCRtpReceiver, names._RX_SEND_PLI, "aiortc")
    assert asyncio.iscoroutinefunction(getattr(RTCRtpReceiver, names._RX_SEND_PLI)), _review(
        "aiortc", f"RTCRtpReceiver.{names._RX_SEND_PLI} is no longer a coroutine function"
    )


def test_sender_names(objects: Objects) -> None:
    for name in (
        names._TX_SEND_KEYFRAME,
        names._TX_SEND,
        names._TX_SEND_RTCP,
        names._TX_RETRANSMIT,
    ):
        _has(RTCRtpSender, name, "aiortc")
    for name in (
        names._TX_STREAM_ID,
        names._TX_TRACK_ID,
        names._TX_LSR,
        names._TX_LSR_TIME,
        names._TX_NTP_TIMESTAMP,
        names._TX_RTP_TIMESTAMP,
        names._TX_PACKET_COUNT,
        names._TX_OCTET_COUNT,
        "_ssrc",
        "_rtx_ssrc",
    ):
        _has(objects.sender, name, "aiortc", instance=True)


def test_transport_names(objects: Objects) -> None:
    _has(objects.dtls, names._DTLS_STATE, "aiortc", instance=True)
    _has(objects.dtls, names._DTLS_TX_SRTP, "aiortc", instance=True)
    _has(objects.ice, names._ICE_CONNECTION, "aiortc", instance=True)
    _has(objects.ice, names._ICE_RECV, "aiortc", instance=True)  # bound in __init__
    _has(objects.gatherer, names._GATHERER_CONNECTION, "aiortc", instance=True)


def test_aioice_names(objects: Objects) -> None:
    _has(objects.connection, names._ICE_NOMINATED, "aioice", instance=True)
    _has(objects.connection, names._ICE_PROTOCOLS, "aioice", instance=True)
    _has(aioice.Connection, names._ICE_DATA_RECEIVED, "aioice")
    _has(aioice.Connection, names._ICE_GATHER_METHOD, "aioice")
    # Binding host candidates inside the media port range (aiortc_adapter/ports.py).
    _has(aioice.ice, names._ICE_STUN_PROTOCOL, "aioice")
    _has(aioice.ice, names._ICE_SERVER_REFLEXIVE, "aioice")
    _has(objects.connection, "stun_server", "aioice", instance=True)


def test_srtp_and_av_names() -> None:
    """The SRTP session the adapter protects packets with, and the frame types it yields."""
    _has(pylibsrtp.Session, "protect", "pylibsrtp")
    _has(pylibsrtp, "Error", "pylibsrtp")
    assert issubclass(pylibsrtp.Error, Exception), _review("pylibsrtp", "Error is not an Exception")
    _has(av.packet, "Packet", "av")
    _has(av.stream, "Stream", "av")

"""The requests of protocol ``concord.v1`` (client to server), as pydantic models.

Three kinds of message, protoo-style (the other two in server/signaling/notifications.py):

- requests, client to server, each with a client-chosen integer ``id``;
- one response per request: ``{"type": "response", "id", "ok": true, "data"}``
  or ``{"type": "response", "id", "ok": false, "error": {"code", "message"}}``;
- notifications, server to client, no id, named in the past tense.

``docs/protocol.md`` documents every type; ``tests/signaling/test_messages.py``
fails when the two drift apart. Never reuse a removed ``type`` name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

PROTOCOL = "concord.v1"

#: Largest frame accepted from a client; an SDP offer with candidates is ~10 KB.
MAX_FRAME_BYTES = 64 * 1024

ParticipantId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=60_000)]
RequestId = Annotated[int, Field(ge=0, le=2**53)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RequestId = Field(description="Chosen by the client; echoed in the one response.")


# --- joining and media ---------------------------------------------------------------


class Join(_Request):
    """Enter the room (or its lobby). Answered with the room as this participant sees it."""

    type: Literal["join"]
    knock_message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    video_codecs: (
        Annotated[
            list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]],
            Field(max_length=32),
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "The video codecs this browser can decode (e.g. ['VP8', 'H264'], from "
            "RTCRtpReceiver.getCapabilities('video')); absent: VP8 only (older pages)."
        ),
    )


class PublishOffer(_Request):
    """The browser's offer for its publisher connection (send-only audio and video)."""

    type: Literal["publish_offer"]
    sdp: Sdp


class SubscriberAnswer(_Request):
    """The browser's answer to the server's latest ``subscriber_offered``."""

    type: Literal["subscriber_answer"]
    sdp: Sdp


class IceCandidate(_Request):
    """A trickled ICE candidate for one of the two connections; empty means end of candidates."""

    type: Literal["ice_candidate"]
    target: Literal["publisher", "subscriber"]
    candidate: Annotated[str, StringConstraints(max_length=1000)]
    sdp_mid: Annotated[str, StringConstraints(max_length=32)] | None = None
    sdp_mline_index: Annotated[int, Field(ge=0, le=100)] | None = None


class RestartSubscriber(_Request):
    """Ask for a fresh subscriber offer with an ICE restart (after a network change)."""

    type: Literal["restart_subscriber"]


class Ping(_Request):
    """Answered at once with nothing: the page asks when its media connections break, to
    learn whether the socket still carries anything. A socket whose local address went
    away (a phone that changed networks) stays open for minutes and says nothing."""

    type: Literal["ping"]


class Leave(_Request):
    type: Literal["leave"]


# --- a participant's own state ----------------------------------------------------------


class RaiseHand(_Request):
    type: Literal["raise_hand"]
    raised: bool


class SetSelfState(_Request):
    """What the participant did with their own microphone and camera (display only)."""

    type: Literal["set_self_state"]
    muted: bool
    video_off: bool


class SetAudioOnly(_Request):
    """Receive no video (a weak network); the server stops forwarding video to you."""

    type: Literal["set_audio_only"]
    on: bool


class AcceptUnmute(_Request):
    """Agree to a host's request to unmute: the host's mute is lifted."""

    type: Literal["accept_unmute"]


class SendChat(_Request):
    """A chat line to the room (within your caucus), or a private note to the hosts."""

    type: Literal["send_chat"]
    #: Length is the room's to check (``chat_too_long``); the frame cap bounds it here.
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    to_hosts: bool = False


class ChatHistory(_Request):
    """A page of the chat you may read: the latest lines, or those before a line."""

    type: Literal["chat_history"]
    before: Annotated[int, Field(ge=1, le=2**31)] | None = Field(
        default=None, description="Lines older than this line id; none for the latest."
    )
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class KnockMessage(_Request):
    """A short message to staff from the lobby ("I am the applicant's son")."""

    type: Literal["knock_message"]
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


# --- host controls (presiding officer and staff only; enforced by the room) ----------


class Admit(_Request):
    type: Literal["admit"]
    participant_id: ParticipantId


class Decline(_Request):
    type: Literal["decline"]
    participant_id: ParticipantId


class AdmitAllExperts(_Request):
    type: Literal["admit_all_experts"]


class Mute(_Request):
    """Stop forwarding someone's audio; they are told."""

    type: Literal["mute"]
    participant_id: ParticipantId


class RequestUnmute(_Request):
    type: Literal["request_unmute"]
    participant_id: ParticipantId


class AllowAudio(_Request):
    """Lift a host's mute without waiting for the participant to accept a request."""

    type: Literal["allow_audio"]
    participant_id: ParticipantId


class LowerHand(_Request):
    type: Literal["lower_hand"]
    participant_id: ParticipantId


class StopVideo(_Request):
    type: Literal["stop_video"]
    participant_id: ParticipantId


class AllowVideo(_Request):
    type: Literal["allow_video"]
    participant_id: ParticipantId


class Remove(_Request):
    """Remove someone from the room, optionally revoking their link for good."""

    type: Literal["remove"]
    participant_id: ParticipantId
    revoke_link: bool = False


class Lock(_Request):
    type: Literal["lock"]
    locked: bool


class EndSession(_Request):
    type: Literal["end_session"]


class OpenCaucus(_Request):
    """背对背调解: a private room with these participants (the host is included)."""

    type: Literal["open_caucus"]
    participant_ids: list[ParticipantId] = Field(min_length=1, max_length=20)
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""


class SetCaucus(_Request):
    type: Literal["set_caucus"]
    caucus_id: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    participant_ids: list[ParticipantId] = Field(min_length=1, max_length=20)


class MoveTo(_Request):
    """The host goes into a caucus, or back to the main room (``caucus_id`` null)."""

    type: Literal["move_to"]
    caucus_id: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None


class CloseCaucus(_Request):
    type: Literal["close_caucus"]
    caucus_id: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class CloseAllCaucuses(_Request):
    """Bring everyone back to the main room."""

    type: Literal["close_all_caucuses"]


# --- the agreement (staff who draft it; the server checks who may) --------------------

#: A draft's version, as ``agreement_updated`` gave it: the optimistic lock of every change.
BaseVersion = Annotated[int, Field(ge=1, le=2**31)]


class OpenAgreement(_Request):
    """Start the session's agreement draft (from the register's facts), or open it if started."""

    type: Literal["open_agreement"]


class SaveAgreement(_Request):
    """A new version of the draft, based on ``base_version``; a stale base is a ``conflict``.

    ``content`` is checked by the agreement service itself (``DraftContent``), so
    that a refusal can name the field (``validation_failed`` with ``fields``).
    """

    type: Literal["save_agreement"]
    base_version: BaseVersion
    content: dict[str, Any]


class FreezeAgreement(_Request):
    """Fix the exact text to be signed; refused, naming every gap, while anything is missing."""

    type: Literal["freeze_agreement"]
    base_version: BaseVersion


class UnfreezeAgreement(_Request):
    """Back to drafting (a new version: signatures given so far stop counting), with a reason."""

    type: Literal["unfreeze_agreement"]
    base_version: BaseVersion
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class ListAgreementRevisions(_Request):
    """The draft's version history, newest first."""

    type: Literal["list_agreement_revisions"]


class ShowAgreementRevision(_Request):
    """The text of one past version."""

    type: Literal["show_agreement_revision"]
    number: Annotated[int, Field(ge=1, le=2**31)]


#: The requests ``server/signaling/agreement.py`` answers.
# --- the minutes (调解笔录) ------------------------------------------------------------


class MinutesAdd(_Request):
    """Start an entry: who speaks, what they said so far, and when (default: now).

    Answered with the entry (its id and version, for the edits that follow)."""

    type: Literal["minutes_add"]
    speaker_key: ParticipantId = Field(description="A speaker of the session (inv-N, staff-N).")
    text: Annotated[str, StringConstraints(max_length=4000)] = Field(
        default="", description="At most 2000 characters (longer is refused by name)."
    )
    at: datetime | None = Field(default=None, description="When it was said; the session's day.")


class MinutesEdit(_Request):
    """Change an entry from the version last seen; a field left null stays as it is."""

    type: Literal["minutes_edit"]
    entry_id: int = Field(ge=1)
    base_version: int = Field(ge=1)
    text: Annotated[str, StringConstraints(max_length=4000)] | None = None
    speaker_key: ParticipantId | None = None
    at: datetime | None = None


class MinutesDelete(_Request):
    """Remove an entry (begun by mistake), from the version last seen."""

    type: Literal["minutes_delete"]
    entry_id: int = Field(ge=1)
    base_version: int = Field(ge=1)


class MinutesList(_Request):
    """Every entry in time order, the session's speakers, and whether signed off."""

    type: Literal["minutes_list"]


MinutesRequest = MinutesAdd | MinutesEdit | MinutesDelete | MinutesList


AgreementRequest = (
    OpenAgreement
    | SaveAgreement
    | FreezeAgreement
    | UnfreezeAgreement
    | ListAgreementRevisions
    | ShowAgreementRevision
)


ClientMessage = Annotated[
    Join
    | PublishOffer
    | SubscriberAnswer
    | IceCandidate
    | RestartSubscriber
    | Ping
    | Leave
    | RaiseHand
    | SetSelfState
    | SetAudioOnly
    | AcceptUnmute
    | SendChat
    | ChatHistory
    | KnockMessage
    | Admit
    | Decline
    | AdmitAllExperts
    | Mute
    | RequestUnmute
    | AllowAudio
    | LowerHand
    | StopVideo
    | AllowVideo
    | Remove
    | Lock
    | EndSession
    | OpenCaucus
    | SetCaucus
    | MoveTo
    | CloseCaucus
    | CloseAllCaucuses
    | OpenAgreement
    | SaveAgreement
    | FreezeAgreement
    | UnfreezeAgreement
    | ListAgreementRevisions
    | ShowAgreementRevision
    | MinutesAdd
    | MinutesEdit
    | MinutesDelete
    | MinutesList,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)

#: Requests only hosts may make (the room enforces it; listed for the page and the docs).
HOST_REQUESTS = frozenset(
    {
        "admit",
        "decline",
        "admit_all_experts",
        "mute",
        "request_unmute",
        "allow_audio",
        "lower_hand",
        "stop_video",
        "allow_video",
        "remove",
        "lock",
        "end_session",
        "open_caucus",
        "set_caucus",
        "move_to",
        "close_caucus",
        "close_all_caucuses",
    }
)

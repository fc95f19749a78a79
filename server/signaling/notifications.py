"""The server's side of protocol ``concord.v1``: the one response to each request, and
the notifications (server to client, no id, named in the past tense).

The requests are in server/signaling/messages.py; ``docs/protocol.md`` documents every
type and ``tests/signaling/test_messages.py`` fails when the two drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """The same shape as the HTTP API's errors: a code, a sentence, and the fields at fault."""

    code: str = Field(description="Stable: invalid_request, not_joined, not_allowed, ...")
    message: str = Field(description="For people, in the page's language.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Field name → what is wrong with it, in the page's language (often empty).",
    )


class Response(BaseModel):
    """The one answer to a request."""

    type: Literal["response"] = "response"
    id: int | None = Field(description="The request's id; null when it could not be read.")
    ok: bool
    data: dict[str, Any] | None = None
    error: ErrorBody | None = None


class _Notification(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomUpdated(_Notification):
    """The room as this participant may see it, after any change."""

    type: Literal["room_updated"] = "room_updated"
    room: dict[str, Any]


class SubscriberOffered(_Notification):
    """The server's offer for the subscriber connection; answer with ``subscriber_answer``."""

    type: Literal["subscriber_offered"] = "subscriber_offered"
    sdp: str
    sources: dict[str, str] = Field(
        description="Media stream id → participant id, to label the incoming tiles."
    )
    connection: int = Field(
        description="Changes when the server replaced the subscriber connection: answer "
        "on a new RTCPeerConnection then."
    )


class IceCandidateSent(_Notification):
    type: Literal["ice_candidate_sent"] = "ice_candidate_sent"
    target: Literal["publisher", "subscriber"]
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


class ChatPosted(_Notification):
    type: Literal["chat_posted"] = "chat_posted"
    message: dict[str, Any]


class YouWereMuted(_Notification):
    type: Literal["you_were_muted"] = "you_were_muted"
    by: str


class UnmuteRequested(_Notification):
    type: Literal["unmute_requested"] = "unmute_requested"
    by: str


class YourVideoWasStopped(_Notification):
    type: Literal["your_video_was_stopped"] = "your_video_was_stopped"
    by: str


class YouWereAdmitted(_Notification):
    type: Literal["you_were_admitted"] = "you_were_admitted"


class YouWereDeclined(_Notification):
    type: Literal["you_were_declined"] = "you_were_declined"


class YouWereRemoved(_Notification):
    type: Literal["you_were_removed"] = "you_were_removed"


class SessionEnded(_Notification):
    type: Literal["session_ended"] = "session_ended"


SignerStatus = Literal["waiting", "signed", "refused"]
AgreementStatus = Literal["drafting", "frozen", "sealed"]


class AgreementSigner(BaseModel):
    """Someone who must sign, as the room lists them."""

    name: str
    role: str = Field(description="applicant, respondent, agent, guardian or presiding.")
    status: SignerStatus


class AgreementProblem(BaseModel):
    """Something missing before the text can be frozen."""

    field: str
    message: str = Field(description="In the listener's language.")


class AgreementUpdated(_Notification):
    """The session's agreement as this participant may see it, after any change.

    Sent to admitted participants only, once a draft exists: on every change,
    and to each participant when they are admitted (or return).
    """

    type: Literal["agreement_updated"] = "agreement_updated"
    draft_id: int
    status: AgreementStatus
    version: int
    track: str = Field(description="people (人民调解) or police (治安调解).")
    text: str = Field(description="The agreement's text; personal ID numbers masked.")
    sha256: str | None = Field(description="The frozen text's SHA-256; null while drafting.")
    problems: list[AgreementProblem] = Field(
        description="What still stops freezing (drafting only; for those who draft)."
    )
    signers: list[AgreementSigner]
    your_signature: SignerStatus | None = Field(
        description="Your own answer when you are a signer of the frozen text, else null."
    )
    editable: bool = Field(description="You may draft: save, freeze, unfreeze, history.")
    content: dict[str, Any] | None = Field(
        default=None, description="The structured draft (DraftContent); for those who draft."
    )


class MinutesUpdated(_Notification):
    """An entry of the minutes was written or deleted; for those who read the minutes.

    Entries carry their version: a client keeps the highest it has seen of each."""

    type: Literal["minutes_updated"] = "minutes_updated"
    entry: dict[str, Any] | None = Field(
        default=None, description="The entry as it now reads (id, at, speaker_*, text, ...)."
    )
    deleted_id: int | None = Field(default=None, description="The id of a deleted entry.")


class SignatureRequested(_Notification):
    """The text is frozen and you must sign (or refuse): open the signing page."""

    type: Literal["signature_requested"] = "signature_requested"
    draft_id: int
    version: int
    sha256: str


ServerNotification = (
    RoomUpdated
    | SubscriberOffered
    | IceCandidateSent
    | ChatPosted
    | YouWereMuted
    | UnmuteRequested
    | YourVideoWasStopped
    | YouWereAdmitted
    | YouWereDeclined
    | YouWereRemoved
    | SessionEnded
    | AgreementUpdated
    | SignatureRequested
    | MinutesUpdated
)

"""Signing pages: a signer reads the frozen text, agrees, and draws their signature.

Three ways in, one page: a personal signing link (``/sign/{token}``, works
outside the room and later hands out the signer's copy), the signer's room
invitation (``/j/{token}/sign``, what the room's signing prompt opens), and
a logged-in presiding officer (``/agreements/drafts/{id}/sign``). Wrong links
get the door's padded 404 and count against the address like wrong
invitation links, so signing links cannot be guessed either.

The answer is posted as JSON with the SHA-256 of the text the person was
shown; the domain refuses it if the text has moved on since.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from server.agreements import archive, archived_files
from server.agreements import signing as agreement_signing
from server.agreements.rules import DraftStatus, SignerKind, Via, signer_label
from server.agreements.schemas import RefuseInput, SignInput
from server.disputes import service as disputes
from server.errors import N_, DomainError, ValidationFailed
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.middlewares import client_ip
from server.http.pages import door as door_pages
from server.http.pages.agreement_text import masked_for
from server.http.pages.common import int_param, unit_of_work
from server.keys import CONFIG, HUBS, VAULT
from server.models import Agreement
from server.sessions import invitations

MAX_ANSWER_BYTES = 700_000

#: The room shows this page in a frame of its own; nobody else may frame it.
FRAME_SELF = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'self'"
    ),
}


async def _context(
    request: web.Request, signing: agreement_signing.SigningDoor, *, post_url: str, copy_url: str
) -> dict[str, Any]:
    draft = signing.draft
    async with unit_of_work(request) as db:
        states = await agreement_signing.signer_states(db, draft)
        mine = next((s for s in states if s.signer.id == signing.signer.id), None)
        sealed = await archive.copies_for_signer(db, signing)
        parties = await disputes.parties_of(db, draft.dispute_id)
    # A signer reads their own ID number in full, everyone else's masked (the hash shown
    # below is still that of the full text: the one they sign).
    own = signing.signer.party_id if signing.signer.kind == SignerKind.PARTY else None
    return {
        "text": masked_for(draft.frozen_text, parties, request.app[VAULT], own_party_id=own),
        "signer": signing.signer,
        "role_label": signer_label(signing.signer.kind, signing.signer.role, draft.legal_track),
        "draft": draft,
        "frozen": draft.status == DraftStatus.FROZEN,
        "sealed": sealed,
        "answer": mine.answer if mine else None,
        "others": [s for s in states if s.signer.id != signing.signer.id],
        "post_url": post_url,
        "copy_url": copy_url if sealed else "",
        "embed": request.query.get("embed") == "1",
        "lang_next": request.path,
    }


def _page(request: web.Request, context: dict[str, Any]) -> web.StreamResponse:
    response = r.render(request, "agreements/sign.html", context)
    response.headers.update(FRAME_SELF)
    return door_pages.private(response)


async def _read_answer(request: web.Request) -> tuple[str, dict[str, Any]]:
    if request.content_length is not None and request.content_length > MAX_ANSWER_BYTES:
        raise ValidationFailed(N_("The signature image is too large."))
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than json recurses
        raise ValidationFailed(N_("The request could not be read.")) from exc
    if not isinstance(body, dict):
        raise ValidationFailed(N_("The request could not be read."))
    action = str(body.pop("action", ""))
    if action not in ("sign", "refuse"):
        raise ValidationFailed(N_("Choose to sign or to refuse."), fields={"action": "required"})
    return action, body


async def _answer(
    request: web.Request, signing: agreement_signing.SigningDoor
) -> web.StreamResponse:
    """Record a signature or a refusal; JSON in, JSON out (the page posts with fetch)."""
    actor = request.get(r.ACTOR) if signing.via == Via.STAFF else None
    ip = client_ip(request)
    user_agent = request.headers.get("User-Agent", "")[:300]
    try:
        action, body = await _read_answer(request)
        async with unit_of_work(request) as db:
            if action == "sign":
                data = parse(SignInput, body)
                await agreement_signing.sign(
                    db, signing, data, ip=ip, user_agent=user_agent, actor=actor
                )
            else:
                refusal = parse(RefuseInput, body)
                await agreement_signing.refuse(
                    db, signing, refusal, ip=ip, user_agent=user_agent, actor=actor
                )
    except DomainError as error:
        return door_pages.private(
            r.json_error(
                error.code,
                r.message_of(error),
                status=r.STATUS_FOR[error.code],
                fields=field_messages(error),
            )
        )
    request.app[HUBS].agreement_changed(signing.draft.session_id)
    return door_pages.private(web.json_response({"ok": True, "outcome": action}))


# --- by personal signing link --------------------------------------------------------------


async def _by_link(request: web.Request) -> agreement_signing.SigningDoor | web.StreamResponse:
    token = request.match_info["token"]
    return await door_pages.look_up_secret(
        request, lambda db: agreement_signing.signer_by_token(db, token)
    )


async def link_page(request: web.Request) -> web.StreamResponse:
    signing = await _by_link(request)
    if isinstance(signing, web.StreamResponse):
        return signing
    token = request.match_info["token"]
    return _page(
        request,
        await _context(
            request, signing, post_url=f"/sign/{token}", copy_url=f"/sign/{token}/copy.pdf"
        ),
    )


async def link_answer(request: web.Request) -> web.StreamResponse:
    signing = await _by_link(request)
    if isinstance(signing, web.StreamResponse):
        return signing
    return await _answer(request, signing)


async def link_copy(request: web.Request) -> web.StreamResponse:
    """The signer's own copy of the sealed agreement, for as long as their link lives."""
    signing = await _by_link(request)
    if isinstance(signing, web.StreamResponse):
        return signing
    async with unit_of_work(request) as db:
        agreement = await archive.copies_for_signer(db, signing)
        if agreement is None:
            raise web.HTTPNotFound()
        data = await archived_files.read_pdf(
            request.app[CONFIG].effective_agreements_dir, agreement
        )
        await archive.record_download(
            db, None, agreement, how=f"signer:{signing.signer.id}", ip=client_ip(request)
        )
    return door_pages.private(pdf_response(data, agreement))


def pdf_response(data: bytes, agreement: Agreement, *, inline: bool = False) -> web.Response:
    """The PDF under an ASCII file name (case numbers are Chinese) and its archived hash."""
    response = web.Response(body=data, content_type="application/pdf")
    name = f"agreement-{agreement.case_year}-{agreement.case_seq:04d}-v{agreement.version}.pdf"
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["X-Content-SHA256"] = agreement.pdf_sha256
    return response


# --- by room invitation --------------------------------------------------------------------


async def _by_invitation(
    request: web.Request,
) -> agreement_signing.SigningDoor | web.StreamResponse:
    token = request.match_info["token"]

    async def lookup(db: AsyncSession) -> tuple[agreement_signing.SigningDoor | None] | None:
        found = await invitations.find_live(db, token)
        if found is None:
            return None
        return (await agreement_signing.signer_for_invitation(db, found.invitation),)

    found = await door_pages.look_up_secret(request, lookup)
    if isinstance(found, web.StreamResponse):
        return found
    if found[0] is None:
        # A good link of someone who does not sign (an expert, an observer).
        raise web.HTTPNotFound()
    return found[0]


async def invitation_page(request: web.Request) -> web.StreamResponse:
    signing = await _by_invitation(request)
    if isinstance(signing, web.StreamResponse):
        return signing
    token = request.match_info["token"]
    return _page(
        request, await _context(request, signing, post_url=f"/j/{token}/sign", copy_url="")
    )


async def invitation_answer(request: web.Request) -> web.StreamResponse:
    signing = await _by_invitation(request)
    if isinstance(signing, web.StreamResponse):
        return signing
    return await _answer(request, signing)


# --- by staff login ------------------------------------------------------------------------


async def _by_staff(request: web.Request) -> agreement_signing.SigningDoor:
    actor = r.actor(request)
    draft_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        return await agreement_signing.signer_for_staff(db, actor, draft_id)


async def staff_page(request: web.Request) -> web.StreamResponse:
    signing = await _by_staff(request)
    draft_id = signing.draft.id
    return _page(
        request,
        await _context(
            request, signing, post_url=f"/agreements/drafts/{draft_id}/sign", copy_url=""
        ),
    )


async def staff_answer(request: web.Request) -> web.StreamResponse:
    return await _answer(request, await _by_staff(request))


ROUTES: list[web.RouteDef] = [
    web.get("/sign/{token}", link_page, name="sign_link"),
    web.post("/sign/{token}", link_answer),
    web.get("/sign/{token}/copy.pdf", link_copy),
    web.get("/j/{token}/sign", invitation_page),
    web.post("/j/{token}/sign", invitation_answer),
    web.get("/agreements/drafts/{id}/sign", staff_page),
    web.post("/agreements/drafts/{id}/sign", staff_answer),
]

"""Staff pages of the agreement: the drafting workspace, sealing, and the case records.

The workspace is the same draft the room's panel edits, for work done at a
desk or after the call. Sealing renders and signs the PDF in the worker
process (``AgreementWorks``) and lands on the archived record.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlmodel import col, select

from server.agreements import archive, archived_files, service, signing
from server.agreements.rules import DraftStatus, Problem
from server.agreements.schemas import (
    MAX_TERMS,
    ArchiveQuery,
    CorrectionInput,
    DraftContent,
    DraftEdit,
)
from server.agreements.settings import SealingNotConfigured
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, DomainError
from server.http import render as r
from server.http.forms import field_messages, parse
from server.http.pages.agreement_text import masked_for
from server.http.pages.common import (
    FORM_REFUSALS,
    clean,
    form_data,
    int_param,
    redirect,
    unit_of_work,
)
from server.http.pages.signing import pdf_response
from server.i18n import gettext
from server.ids import parse_id
from server.judicial import service as judicial
from server.keys import CONFIG, HUBS, SESSIONS, TZ, VAULT, WORKS
from server.models import AgreementDraft, BeatOffice, StaffUser


def _settings(request: web.Request) -> archive.Settings:
    config = request.app[CONFIG]
    return archive.Settings(
        agreements_dir=config.effective_agreements_dir,
        data_dir=config.data_dir,
        case_number_pattern=config.case_number_pattern,
        public_url=config.effective_public_url,
        tz=request.app[TZ],
        followups=config.followup_settings,
    )


def _problem_texts(problems: list[Problem]) -> dict[str, str]:
    """What still stops freezing, by field; a term's deadline (``term_deadlines.2``) by its box."""
    texts: dict[str, str] = {}
    for problem in problems:
        text = gettext(problem.message)
        field = problem.field
        if field.startswith("term_deadlines."):
            field = "term_deadline_" + field.removeprefix("term_deadlines.")
        texts.setdefault(field, text % problem.params if problem.params else text)
    return texts


#: Empty term boxes offered below the terms there are (more after a save), within MAX_TERMS.
SPARE_TERM_ROWS = 2
MIN_TERM_ROWS = 3
_TERM_FIELD = re.compile(r"^term(?:_deadline)?_(\d{1,3})$")


def _draft_form(content: DraftContent, draft: AgreementDraft) -> dict[str, Any]:
    """The drafting form's values: one box per term, each with its own deadline beside it."""
    form: dict[str, Any] = {
        "facts": content.facts,
        "disputed_matters": content.disputed_matters,
        "responsibility": content.responsibility,
        "performance_manner": content.performance_manner,
        "performance_deadline": content.performance_deadline.isoformat()
        if content.performance_deadline
        else "",
        "copies": content.copies or "",
        "others_present": content.others_present,
    }
    for index, term in enumerate(content.terms):
        own = content.deadline_of(index)
        form[f"term_{index + 1}"] = term
        form[f"term_deadline_{index + 1}"] = own.isoformat() if own else ""
    return form


def _term_rows(filled: int) -> int:
    """How many term boxes to show: the filled ones and a few spare, never past MAX_TERMS."""
    return min(MAX_TERMS, max(MIN_TERM_ROWS, filled + SPARE_TERM_ROWS))


def _posted_rows(data: dict[str, str]) -> list[int]:
    """The numbers of the term boxes posted, in order (a box holds a term and its deadline)."""
    numbers = {int(m.group(1)) for key in data if (m := _TERM_FIELD.match(key))}
    return sorted(n for n in numbers if n >= 1)


def _filled_rows(data: dict[str, str]) -> list[int]:
    """The posted boxes that hold a term: an empty box is not a term, nor is its date."""
    return [n for n in _posted_rows(data) if data.get(f"term_{n}", "").strip()]


async def _workspace(
    request: web.Request, actor: Actor, session_id: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    vault, tz = request.app[VAULT], request.app[TZ]
    async with unit_of_work(request) as db:
        ctx = await service.open_draft(db, actor, session_id)
        states = await signing.signer_states(db, ctx.draft)
        revisions = await service.revisions_of(db, ctx.draft.id or 0)
        sealed = await archive.current_of_draft(db, ctx.draft.id or 0)
    content = ctx.content
    draft = ctx.draft
    frozen = draft.status == DraftStatus.FROZEN
    context: dict[str, Any] = {
        "ctx": ctx,
        "draft": draft,
        "session": ctx.session,
        "dispute": ctx.dispute,
        "content": content,
        "form": _draft_form(content, draft),
        "term_rows": _term_rows(len(content.terms)),
        "text": masked_for(draft.frozen_text, ctx.parties, vault)
        if frozen
        else service.working_text(ctx, vault, tz, masked=True),
        "problems": _problem_texts(service.problems_of(ctx, vault, tz))
        if draft.status == DraftStatus.DRAFTING
        else {},
        "states": states,
        "all_signed": bool(states) and all(s.signed for s in states),
        "revisions": revisions,
        "sealed": sealed,
        "can_seal": roles.can_seal_agreement(actor, draft.office_id),
        "is_signer": any(s.signer.staff_id == actor.user_id for s in states),
        "public_url": request.app[CONFIG].effective_public_url,
        "issued": [],
        "form_errors": {},
        "form_error": "",
        "notice": request.query.get("notice", ""),
    }
    context.update(extra or {})
    return context


async def workspace_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    return r.render(
        request, "agreements/workspace.html", await _workspace(request, actor, session_id)
    )


async def _refused(
    request: web.Request, actor: Actor, session_id: int, error: DomainError, posted: Any = None
) -> web.Response:
    extra: dict[str, Any] = {
        "form_errors": _form_errors(error, posted),
        "form_error": r.message_of(error),
    }
    if posted is not None:
        extra["form"] = posted
        extra["term_rows"] = _term_rows(max(_posted_rows(posted), default=0))
    context = await _workspace(request, actor, session_id, extra)
    return r.render(request, "agreements/workspace.html", context, status=r.STATUS_FOR[error.code])


def _form_errors(error: DomainError, posted: dict[str, str] | None) -> dict[str, str]:
    """Messages by form field: the draft's fields are nested in ``content``, the terms by box.

    ``content.terms.1`` is the second term kept, which is the second filled box,
    not necessarily box 2: the mapping goes through the boxes that held a term.
    """
    if isinstance(error, service.DraftIncomplete):
        # Freezing refused: each field its own gap (a term's deadline by its number).
        return _problem_texts(error.problems)
    filled = _filled_rows(posted or {})
    errors: dict[str, str] = {}
    for key, text in field_messages(error).items():
        parts = key.split(".")
        if parts[0] == "content" and len(parts) > 1:
            parts = parts[1:]
        if parts[0] in ("terms", "term_deadlines") and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            box = filled[index] if index < len(filled) else index + 1
            name = "term" if parts[0] == "terms" else "term_deadline"
            errors.setdefault(f"{name}_{box}", text)
        else:
            errors.setdefault(parts[0], text)
    return errors


def _content_from_form(data: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = clean(
        data,
        "facts",
        "disputed_matters",
        "responsibility",
        "performance_manner",
        "performance_deadline",
        "copies",
        "others_present",
    )
    for key in (
        "facts",
        "disputed_matters",
        "responsibility",
        "performance_manner",
        "others_present",
    ):
        payload.setdefault(key, "")
    filled = _filled_rows(data)
    payload["terms"] = [data[f"term_{n}"].strip() for n in filled]
    payload["term_deadlines"] = [data.get(f"term_deadline_{n}", "").strip() for n in filled]
    return payload


def _version(data: dict[str, str]) -> int:
    return parse_id(data.get("base_version", ""), max_digits=9) or 0


def _notify(request: web.Request, session_id: int) -> None:
    request.app[HUBS].agreement_changed(session_id)


async def save_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    data = await form_data(request)
    try:
        edit = parse(
            DraftEdit,
            {
                "base_version": _version(data),
                "content": _content_from_form(data),
            },
        )
        async with unit_of_work(request) as db:
            ctx = await service.open_draft(db, actor, session_id)
            await service.save(db, actor, ctx.draft.id or 0, edit)
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc, data)
    _notify(request, session_id)
    raise redirect(f"/sessions/{session_id}/agreement?notice=saved")


async def freeze_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    data = await form_data(request)
    config = request.app[CONFIG]
    try:
        async with unit_of_work(request) as db:
            ctx = await service.open_draft(db, actor, session_id)
            _ctx, issued = await service.freeze(
                db,
                actor,
                ctx.draft.id or 0,
                _version(data),
                vault=request.app[VAULT],
                tz=request.app[TZ],
                link_days=config.agreement_link_days,
            )
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc)
    _notify(request, session_id)
    context = await _workspace(request, actor, session_id, {"issued": issued, "notice": "frozen"})
    return r.render(request, "agreements/workspace.html", context)


async def unfreeze_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    data = await form_data(request)
    reason = data.get("reason", "").strip()[:500]
    try:
        if len(reason) < 2:
            raise Conflict(N_("Say why the frozen text must change."))
        async with unit_of_work(request) as db:
            ctx = await service.open_draft(db, actor, session_id)
            await service.unfreeze(db, actor, ctx.draft.id or 0, _version(data), reason)
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc)
    _notify(request, session_id)
    raise redirect(f"/sessions/{session_id}/agreement?notice=unfrozen")


async def reissue_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    signer_id = int_param(request, "signer_id")
    try:
        async with unit_of_work(request) as db:
            link = await service.reissue_link(
                db,
                actor,
                session_id,
                signer_id,
                link_days=request.app[CONFIG].agreement_link_days,
            )
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc)
    context = await _workspace(request, actor, session_id, {"issued": [link], "notice": "reissued"})
    return r.render(request, "agreements/workspace.html", context)


async def seal_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    session_id = int_param(request, "id")
    try:
        async with unit_of_work(request) as db:
            ctx = await service.open_draft(db, actor, session_id)
        agreement = await archive.seal(
            request.app[SESSIONS],
            actor,
            ctx.draft.id or 0,
            producer=request.app[WORKS],
            vault=request.app[VAULT],
            settings=_settings(request),
        )
    except SealingNotConfigured:
        error = Conflict(
            N_("The station's sealing certificate is not configured (see seal_key_path).")
        )
        return await _refused(request, actor, session_id, error)
    except FORM_REFUSALS as exc:
        return await _refused(request, actor, session_id, exc)
    _notify(request, session_id)
    raise redirect(f"/agreements/{agreement.id}?notice=sealed")


# --- the archive ---------------------------------------------------------------------------


async def archive_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    raw = {k: v for k, v in request.query.items() if v and k in ArchiveQuery.model_fields}
    error = ""
    try:
        query = parse(ArchiveQuery, raw)
    except DomainError as exc:
        query, error = ArchiveQuery(), r.message_of(exc)
    async with unit_of_work(request) as db:
        found = await archive.search(db, actor, query, tz=request.app[TZ])
        offices = list(
            await db.exec(
                select(BeatOffice)
                .where(BeatOffice.station_id == actor.station_id)
                .order_by(col(BeatOffice.id))
            )
        )
    return r.render(
        request,
        "agreements/archive.html",
        {
            "found": found,
            "query": query,
            "error": error,
            "offices": offices,
            "office_names": {o.id: o.name for o in offices},
            "searched": bool(raw),
        },
    )


async def _record(request: web.Request, actor: Actor, agreement_id: int) -> dict[str, Any]:
    async with unit_of_work(request) as db:
        agreement = await archive.get_agreement(db, actor, agreement_id)
        versions = await archive.versions_of(db, agreement)
        current = versions[-1].id == agreement.id if versions else True
        sealed_by = await db.get(StaffUser, agreement.sealed_by_id)
        office = await db.get(BeatOffice, agreement.office_id)
        ctx = await service.get_draft(db, actor, agreement.draft_id)
        window = await judicial.window_of_draft(db, actor, agreement.draft_id, tz=request.app[TZ])
    evidence = json.loads(agreement.evidence)
    tz = request.app[TZ]
    for signer in evidence.get("signers", []):
        at = datetime.fromisoformat(str(signer.get("at", "")))
        signer["at"] = at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "agreement": agreement,
        "versions": versions,
        "current": current,
        "sealed_by": sealed_by.display_name if sealed_by else "",
        "office": office,
        "evidence": evidence,
        "draft": ctx.draft,
        "session": ctx.session,
        "dispute": ctx.dispute,
        "verify_url": f"{request.app[CONFIG].effective_public_url}/verify/{agreement.verify_code}",
        "can_correct": current
        and roles.can_seal_agreement(actor, agreement.office_id)
        and ctx.draft.status == DraftStatus.SEALED,
        "notice": request.query.get("notice", ""),
        "form_error": "",
        "judicial_views": [window] if window else [],
    }


async def record_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    return r.render(
        request, "agreements/record.html", await _record(request, actor, int_param(request, "id"))
    )


async def pdf_download(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        agreement = await archive.get_agreement(db, actor, int_param(request, "id"))
        data = await archived_files.read_pdf(
            request.app[CONFIG].effective_agreements_dir, agreement
        )
        await archive.record_download(db, actor, agreement, how="staff")
    return pdf_response(data, agreement, inline=request.query.get("inline") == "1")


async def bundle_download(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    async with unit_of_work(request) as db:
        agreement, data = await archive.bundle(
            db,
            actor,
            int_param(request, "id"),
            agreements_dir=request.app[CONFIG].effective_agreements_dir,
            tz=request.app[TZ],
        )
    response = web.Response(body=data, content_type="application/zip")
    name = f"case-{agreement.case_year}-{agreement.case_seq:04d}-v{agreement.version}.zip"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


async def correct_submit(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    agreement_id = int_param(request, "id")
    data = await form_data(request)
    try:
        parsed = parse(CorrectionInput, clean(data, "reason"))
        async with unit_of_work(request) as db:
            draft = await archive.start_correction(db, actor, agreement_id, parsed.reason)
    except FORM_REFUSALS as exc:
        context = await _record(request, actor, agreement_id)
        context["form_error"] = r.message_of(exc)
        return r.render(request, "agreements/record.html", context, status=r.STATUS_FOR[exc.code])
    _notify(request, draft.session_id)
    raise redirect(f"/sessions/{draft.session_id}/agreement?notice=correction")


ROUTES: list[web.RouteDef] = [
    web.get("/sessions/{id}/agreement", workspace_page),
    web.post("/sessions/{id}/agreement", save_submit),
    web.post("/sessions/{id}/agreement/freeze", freeze_submit),
    web.post("/sessions/{id}/agreement/unfreeze", unfreeze_submit),
    web.post("/sessions/{id}/agreement/seal", seal_submit),
    web.post("/sessions/{id}/agreement/signers/{signer_id}/reissue", reissue_submit),
    web.get("/agreements", archive_page),
    web.get("/agreements/{id}", record_page),
    web.get("/agreements/{id}/pdf", pdf_download),
    web.get("/agreements/{id}/bundle.zip", bundle_download),
    web.post("/agreements/{id}/correct", correct_submit),
]

"""The expert pool pages: list and filters, add and edit, import from a file, export."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes.lifecycle import Category
from server.errors import N_, Conflict, DomainError, NotAllowed, ValidationFailed
from server.experts import exporting, importing, service
from server.experts.kinds import ExpertKind
from server.experts.schemas import ExpertInput
from server.http import render as r
from server.http.forms import InputInvalid, field_messages, parse
from server.http.pages.common import MAX_FIELD, clean, int_param, redirect, unit_of_work
from server.i18n import gettext
from server.keys import TZ
from server.models import utcnow
from server.pii import derive_key, mask_phone
from server.staff import service as staff_service

FORM_FIELDS = ("name", "kind", "organisation", "phone", "notes")
FORM_LISTS = ("specialties", "office_ids")
MANAGE_ONLY = N_("Only officers and chiefs manage the expert pool.")


class ExpertFilter(BaseModel):
    """What the list (and the export) can be narrowed by; ``free_at`` is station wall-clock time."""

    model_config = ConfigDict(extra="ignore")

    kind: ExpertKind | None = None
    specialty: Category | None = None
    office_id: int | None = Field(default=None, ge=1)
    free_at: datetime | None = None
    free_minutes: int = Field(default=60, ge=15, le=720)
    q: str = Field(default="", max_length=100)
    inactive: bool = False


def _manager(request: web.Request) -> Actor:
    actor = r.actor(request)
    if not roles.can_manage_experts(actor):
        raise NotAllowed(MANAGE_ONLY)
    return actor


def _first_segment(errors: dict[str, str]) -> dict[str, str]:
    """``specialties.0`` → ``specialties``: lists show one message beside the whole group."""
    result: dict[str, str] = {}
    for key, text in errors.items():
        result.setdefault(key.split(".")[0], text)
    return result


def _filter(request: web.Request, *, strict: bool) -> tuple[ExpertFilter, dict[str, str]]:
    """The filter from the query. On the list a bad value is dropped and explained;
    an export refuses instead, so it never silently covers more than was asked."""
    query = {k: v for k, v in request.query.items() if v != "" and k in ExpertFilter.model_fields}
    try:
        return parse(ExpertFilter, query), {}
    except InputInvalid as exc:
        if strict:
            raise
        errors = _first_segment(field_messages(exc))
    return parse(ExpertFilter, {k: v for k, v in query.items() if k not in errors}), errors


def _query_of(flt: ExpertFilter) -> dict[str, str]:
    """The filter as query parameters again (for the export links)."""
    values = flt.model_dump(exclude_defaults=True)
    if "free_at" in values:
        values["free_at"] = flt.free_at.strftime("%Y-%m-%dT%H:%M") if flt.free_at else ""
        values["free_minutes"] = str(flt.free_minutes)
    if flt.inactive:
        values["inactive"] = "1"
    return {k: str(v) for k, v in values.items()}


async def _list(
    db: AsyncSession, request: web.Request, actor: Actor, flt: ExpertFilter
) -> list[service.ExpertView]:
    free_from = free_until = None
    if flt.free_at is not None:
        tz = request.app[TZ]
        free_from = flt.free_at.replace(tzinfo=tz) if flt.free_at.tzinfo is None else flt.free_at
        free_until = free_from + timedelta(minutes=flt.free_minutes)
    return await service.list_experts(
        db,
        actor,
        kind=flt.kind,
        specialty=flt.specialty,
        office_id=flt.office_id,
        free_from=free_from,
        free_until=free_until,
        q=flt.q,
        active_only=not flt.inactive,
    )


async def list_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    flt, errors = _filter(request, strict=False)
    async with unit_of_work(request) as db:
        views = await _list(db, request, actor, flt)
        offices = await staff_service.offices(db, actor.station_id)
    names = {o.id: o.name for o in offices}
    full_phone = roles.can_manage_experts(actor)
    rows = [
        {
            "view": v,
            "specialties": exporting.in_category_order(v.specialties),
            "phone": v.expert.phone if full_phone else mask_phone(v.expert.phone),
            "offices": [names[o] for o in v.office_ids if o in names],
        }
        for v in views
    ]
    export_query = urlencode(_query_of(flt))
    return r.render(
        request,
        "experts/list.html",
        {
            "rows": rows,
            "query": dict(request.query),
            "errors": errors,
            "offices": offices,
            "can_manage": full_phone,
            "export_query": f"?{export_query}" if export_query else "",
            "notice": request.query.get("notice", ""),
            "count": request.query.get("count", "")[:6],
        },
    )


# --- add, edit, deactivate, delete ---------------------------------------------------


def _form_of(view: service.ExpertView) -> dict[str, Any]:
    expert = view.expert
    return {
        **{k: getattr(expert, k) for k in FORM_FIELDS},
        "active": expert.active,
        "specialties": list(view.specialties),
        "office_ids": [str(o) for o in view.office_ids],
    }


def _posted(post: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form as submitted: single fields as text, the checkbox groups as lists."""
    form: dict[str, Any] = {
        k: v[:MAX_FIELD] for k, v in post.items() if isinstance(v, str) and k in FORM_FIELDS
    }
    for name in FORM_LISTS:
        form[name] = [v[:100] for v in post.getall(name, []) if isinstance(v, str)][:100]
    form["active"] = post.get("active") == "on"
    return form


async def _form(
    request: web.Request,
    actor: Actor,
    expert_id: int | None,
    form: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> web.Response:
    async with unit_of_work(request) as db:
        offices = await staff_service.offices(db, actor.station_id)
        view = await service.get_expert(db, actor, expert_id) if expert_id else None
    if form is None:
        form = _form_of(view) if view else {"active": True, "specialties": [], "office_ids": []}
    context: dict[str, Any] = {
        "expert": view.expert if view else None,
        "form": form,
        # An inactive office stays listed while the expert still serves it.
        "offices": [o for o in offices if o.active or str(o.id) in form["office_ids"]],
        "errors": {},
        "notice": request.query.get("notice", ""),
    }
    status = 200
    if error is not None:
        context["errors"] = _first_segment(field_messages(error))
        if not isinstance(error, InputInvalid):
            context["error"] = r.message_of(error)
        status = r.STATUS_FOR[error.code]
    return r.render(request, "experts/form.html", context, status=status)


async def form_page(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id") if "id" in request.match_info else None
    return await _form(request, actor, expert_id)


async def form_submit(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id") if "id" in request.match_info else None
    form = _posted(await request.post())
    try:
        parsed = parse(
            ExpertInput,
            {
                **clean(form, *FORM_FIELDS),
                **{k: form[k] for k in FORM_LISTS},
                "active": form["active"],
            },
        )
        async with unit_of_work(request) as db:
            if expert_id is None:
                await service.create_expert(db, actor, parsed)
            else:
                await service.update_expert(db, actor, expert_id, parsed)
    except (ValidationFailed, Conflict) as exc:
        return await _form(request, actor, expert_id, form, exc)
    raise redirect("/experts?notice=" + ("created" if expert_id is None else "saved"))


async def _set_active(request: web.Request, active: bool) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    async with unit_of_work(request) as db:
        await service.set_active(db, actor, expert_id, active)
    raise redirect(f"/experts/{expert_id}?notice=" + ("activated" if active else "deactivated"))


async def activate_submit(request: web.Request) -> web.StreamResponse:
    return await _set_active(request, True)


async def deactivate_submit(request: web.Request) -> web.StreamResponse:
    return await _set_active(request, False)


async def delete_submit(request: web.Request) -> web.StreamResponse:
    actor = _manager(request)
    expert_id = int_param(request, "id")
    try:
        async with unit_of_work(request) as db:
            await service.delete_expert(db, actor, expert_id)
    except Conflict as exc:
        return await _form(request, actor, expert_id, error=exc)
    raise redirect("/experts?notice=deleted")


# --- import --------------------------------------------------------------------------


#: A signed preview is good for this long; then the file must be uploaded again.
PAYLOAD_TTL_SECONDS = 2 * 3600
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024


class PayloadRefused(DomainError):
    """A confirmed import whose signed payload was changed, expired or is someone else's."""


class _PayloadRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: int
    cells: dict[str, str]
    bad: bool = False


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int
    station: int
    user: int
    issued: int
    rows: list[_PayloadRow]


TAMPERED = N_(
    "This import could not be verified: it was changed after the preview, has expired, "
    "or belongs to someone else. Upload the file again."
)


class PayloadSigner:
    """Carries previewed rows through the browser and back, so they cannot be altered on the way.

    The rows are checked again when they come back (the pool may have changed);
    the signature only guarantees they are the rows the preview showed.
    """

    def __init__(self, key: bytes, ttl_seconds: int = PAYLOAD_TTL_SECONDS) -> None:
        self._key = key
        self._ttl = ttl_seconds

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def sign(
        self, actor: Actor, rows: Sequence[importing.SourceRow], *, now: float | None = None
    ) -> str:
        payload = {
            "v": 1,
            "station": actor.station_id,
            "user": actor.user_id,
            "issued": int(time.time() if now is None else now),
            "rows": [{"line": r.line, "cells": r.cells, "bad": r.bad_encoding} for r in rows],
        }
        packed = zlib.compress(json.dumps(payload, ensure_ascii=False).encode())
        body = base64.urlsafe_b64encode(packed).decode()
        return f"{body}.{self._mac(body)}"

    def open(
        self, token: str, actor: Actor, *, now: float | None = None
    ) -> list[importing.SourceRow]:
        body, _, mac = token.strip().rpartition(".")
        if not body or not hmac.compare_digest(self._mac(body), mac):
            raise PayloadRefused(TAMPERED)
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(base64.urlsafe_b64decode(body), MAX_PAYLOAD_BYTES)
            payload = _Payload.model_validate_json(raw)
        except (ValueError, zlib.error) as exc:
            raise PayloadRefused(TAMPERED) from exc
        current = time.time() if now is None else now
        if (
            payload.v != 1
            or payload.station != actor.station_id
            or payload.user != actor.user_id
            or not 0 <= current - payload.issued <= self._ttl
        ):
            raise PayloadRefused(TAMPERED)
        return [
            importing.SourceRow(line=r.line, cells=r.cells, bad_encoding=r.bad)
            for r in payload.rows
        ]


SIGNER = web.AppKey("expert_import_signer", PayloadSigner)


def setup(app: web.Application, secret: bytes) -> None:
    """Give the app the key that signs import previews (derived once, at start-up)."""
    app[SIGNER] = PayloadSigner(derive_key(secret, "expert-import"))


def _signer(request: web.Request) -> PayloadSigner:
    return request.app[SIGNER]


def _import_page(
    request: web.Request,
    *,
    rows: Sequence[importing.ReviewedRow] = (),
    payload: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    return r.render(
        request,
        "experts/import.html",
        {
            "rows": rows,
            "bad_rows": sum(1 for row in rows if not row.ok),
            "payload": payload,
            "error": error,
            "columns": exporting.COLUMNS,
            "headers": exporting.ZH_HEADERS,
            "column_labels": exporting.COLUMN_LABELS,
            "max_rows": importing.MAX_ROWS,
        },
        status=status,
    )


async def import_page(request: web.Request) -> web.StreamResponse:
    _manager(request)
    return _import_page(request)


def _read_upload(upload: web.FileField) -> list[importing.SourceRow]:
    return importing.parse_upload(upload.filename or "", upload.file.read())


async def import_submit(request: web.Request) -> web.StreamResponse:
    """Either a file to preview, or a signed preview to import (the ``payload`` field)."""
    actor = _manager(request)
    post = await request.post()
    payload = post.get("payload")
    if isinstance(payload, str):
        return await _confirm(request, actor, payload)
    upload = post.get("file")
    if not isinstance(upload, web.FileField):
        text = gettext(N_("Choose a CSV or Excel file to upload."))
        return _import_page(request, error=text, status=422)
    try:
        source = await asyncio.to_thread(_read_upload, upload)
    except importing.FileRefused as exc:
        return _import_page(request, error=r.message_of(exc), status=422)
    async with unit_of_work(request) as db:
        reviewed = await importing.review(db, actor.station_id, source)
    clean_file = all(row.ok for row in reviewed)
    signed = _signer(request).sign(actor, source) if clean_file else ""
    return _import_page(request, rows=reviewed, payload=signed)


async def _confirm(request: web.Request, actor: Actor, payload: str) -> web.StreamResponse:
    try:
        source = _signer(request).open(payload, actor)
    except PayloadRefused as exc:
        return _import_page(request, error=r.message_of(exc), status=r.STATUS_FOR[exc.code])
    async with unit_of_work(request) as db:
        reviewed = await importing.review(db, actor.station_id, source)
        count = 0
        if all(row.ok for row in reviewed):
            count = await importing.import_experts(db, actor, reviewed)
    if not count:
        # The pool changed since the preview (someone added one of these phones, say).
        text = gettext(N_("Nothing was imported: some rows need correcting."))
        return _import_page(request, rows=reviewed, error=text, status=409)
    raise redirect(f"/experts?notice=imported&count={count}")


async def template_csv(request: web.Request) -> web.StreamResponse:
    """An empty file with the headers, for filling in."""
    _manager(request)
    body = exporting.to_csv(exporting.table([], {}))
    return _download(body, exporting.CSV_TYPE, "experts-template.csv")


# --- export --------------------------------------------------------------------------


def _download(body: bytes, content_type: str, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if content_type == exporting.CSV_TYPE else None,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _export(request: web.Request, fmt: str) -> web.StreamResponse:
    """Full phone numbers leave the building here, so only managers export, and it is audited."""
    actor = _manager(request)
    flt, _ = _filter(request, strict=True)
    async with unit_of_work(request) as db:
        views = await _list(db, request, actor, flt)
        offices = await staff_service.offices(db, actor.station_id)
        record(
            db,
            actor,
            "expert.export",
            object_type="expert",
            detail={"format": fmt, "count": len(views), "filter": _query_of(flt)},
        )
    rows = exporting.table(views, {o.id: o.name for o in offices if o.id is not None})
    stamp = utcnow().astimezone(request.app[TZ]).strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        return _download(exporting.to_csv(rows), exporting.CSV_TYPE, f"experts-{stamp}.csv")
    body = await asyncio.to_thread(exporting.to_xlsx, rows)
    return _download(body, exporting.XLSX_TYPE, f"experts-{stamp}.xlsx")


async def export_csv(request: web.Request) -> web.StreamResponse:
    return await _export(request, "csv")


async def export_xlsx(request: web.Request) -> web.StreamResponse:
    return await _export(request, "xlsx")


# Fixed paths come before /experts/{id}, which would otherwise swallow them.
ROUTES: list[web.RouteDef] = [
    web.get("/experts", list_page, name="experts"),
    web.get("/experts/new", form_page),
    web.post("/experts/new", form_submit),
    web.get("/experts/import", import_page),
    web.post("/experts/import", import_submit),
    web.get("/experts/import/template.csv", template_csv),
    web.get("/experts/export.csv", export_csv),
    web.get("/experts/export.xlsx", export_xlsx),
    web.get("/experts/{id}", form_page),
    web.post("/experts/{id}", form_submit),
    web.post("/experts/{id}/activate", activate_submit),
    web.post("/experts/{id}/deactivate", deactivate_submit),
    web.post("/experts/{id}/delete", delete_submit),
]

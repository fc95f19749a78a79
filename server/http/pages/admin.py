"""Administration: beat offices, staff accounts, the audit trail."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import col, select

from server.agreements import station_seal
from server.auth import roles
from server.errors import N_, Conflict, NotAllowed, ValidationFailed
from server.http import render as r
from server.http.auth_flow import signed_out
from server.http.forms import InputInvalid, field_messages, parse
from server.http.pages import workdays
from server.http.pages.common import clean, form_data, int_param, redirect, unit_of_work
from server.ids import parse_id
from server.keys import CONFIG, TZ
from server.local_time import local_today
from server.models import AuditEvent
from server.staff import service
from server.staff.schemas import OfficeInput, UserInput, UserUpdate

OFFICE_FIELDS = ("name", "address", "phone", "court_name", "court_address", "active")
USER_FIELDS = (
    "username",
    "display_name",
    "role",
    "office_id",
    "police_number",
    "phone",
    "password",
)
USER_UPDATE_FIELDS = (
    "display_name",
    "role",
    "office_id",
    "police_number",
    "phone",
    "active",
    "new_password",
)
AUDIT_PAGE = 100


def _admin(request: web.Request) -> roles.Actor:
    actor = r.actor(request)
    if not roles.can_manage_org(actor):
        raise NotAllowed(N_("Only administrators manage offices and accounts."))
    return actor


def _checkbox(data: dict[str, str], name: str) -> dict[str, Any]:
    """An unticked checkbox is absent from the form: that means False, not the default."""
    return {name: data.get(name) == "on"}


async def overview(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    async with unit_of_work(request) as db:
        offices = await service.offices(db, actor.station_id)
        staff = await service.staff(db, actor.station_id)
        station = await service.station_of(db, actor)
        calendar = await workdays.warning_context(db, actor, local_today(request.app[TZ]))
    return r.render(
        request,
        "admin.html",
        {
            **calendar,
            "station": station,
            "offices": offices,
            "staff": staff,
            "office_names": {o.id: o.name for o in offices},
            "notice": request.query.get("notice", ""),
        },
    )


async def office_form(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    office = None
    if "id" in request.match_info:
        async with unit_of_work(request) as db:
            office = await service.get_office(db, actor, int_param(request, "id"))
    form = office.model_dump() if office else {"active": True}
    return r.render(request, "office_form.html", {"office": office, "form": form, "errors": {}})


async def office_submit(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    office_id = int_param(request, "id") if "id" in request.match_info else None
    data = await form_data(request)
    try:
        parsed = parse(
            OfficeInput, {**clean(data, *OFFICE_FIELDS[:-1]), **_checkbox(data, "active")}
        )
        async with unit_of_work(request) as db:
            if office_id is None:
                await service.create_office(db, actor, parsed)
            else:
                await service.update_office(db, actor, office_id, parsed)
    except (ValidationFailed, Conflict) as exc:
        context: dict[str, Any] = {
            "office": {"id": office_id} if office_id else None,
            "form": data,
        }
        context["errors"] = field_messages(exc)
        if not isinstance(exc, InputInvalid):
            context["error"] = r.message_of(exc)
        return r.render(request, "office_form.html", context, status=r.STATUS_FOR[exc.code])
    raise redirect("/admin?notice=saved")


async def user_form(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    async with unit_of_work(request) as db:
        offices = await service.offices(db, actor.station_id)
        account = None
        if "id" in request.match_info:
            account = await service.get_user(db, actor, int_param(request, "id"))
    form = account.model_dump(exclude={"password_hash"}) if account else {"active": True}
    return r.render(
        request,
        "user_form.html",
        {"account": account, "form": form, "errors": {}, "offices": offices},
    )


async def user_submit(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    user_id = int_param(request, "id") if "id" in request.match_info else None
    data = await form_data(request)
    ended_logins = False
    try:
        async with unit_of_work(request) as db:
            if user_id is None:
                await service.create_user(db, actor, parse(UserInput, clean(data, *USER_FIELDS)))
            else:
                fields = clean(data, *USER_UPDATE_FIELDS[:-2], "new_password")
                update = parse(UserUpdate, {**fields, **_checkbox(data, "active")})
                ended_logins = (await service.update_user(db, actor, user_id, update)).signed_out
    except (ValidationFailed, Conflict) as exc:
        async with unit_of_work(request) as db:
            offices = await service.offices(db, actor.station_id)
        context: dict[str, Any] = {
            "account": {"id": user_id} if user_id else None,
            "form": {k: v for k, v in data.items() if "password" not in k},
            "errors": field_messages(exc),
            "offices": offices,
        }
        if not isinstance(exc, InputInvalid):
            context["error"] = r.message_of(exc)
        return r.render(request, "user_form.html", context, status=r.STATUS_FOR[exc.code])
    if ended_logins and user_id is not None:
        signed_out(request, user_id)
    raise redirect("/admin?notice=saved")


async def audit_page(request: web.Request) -> web.StreamResponse:
    actor = r.actor(request)
    if not roles.can_read_audit(actor):
        raise NotAllowed(N_("Your role does not allow this."))
    before = request.query.get("before", "")
    query = select(AuditEvent).where(AuditEvent.station_id == actor.station_id)
    before_id = parse_id(before)
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    action = request.query.get("action", "")[:60]
    if action:
        query = query.where(col(AuditEvent.action).startswith(action, autoescape=True))
    async with unit_of_work(request) as db:
        events = list(await db.exec(query.order_by(col(AuditEvent.id).desc()).limit(AUDIT_PAGE)))
    return r.render(
        request,
        "audit.html",
        {"events": events, "action": action, "more": len(events) == AUDIT_PAGE},
    )


async def seal_page(request: web.Request) -> web.StreamResponse:
    actor = _admin(request)
    async with unit_of_work(request) as db:
        station = await service.station_of(db, actor)
    return r.render(request, "admin_seal.html", _seal_context(request, station))


def _seal_context(request: web.Request, station: Any, error: str = "") -> dict[str, Any]:
    config = request.app[CONFIG]
    return {
        "station": station,
        "error": error,
        "notice": request.query.get("notice", ""),
        "sealing_configured": config.effective_seal_key_path is not None
        and config.effective_seal_cert_path is not None,
        "uses_demo_certificate": config.seal_key_path is None
        and config.effective_seal_key_path is not None,
    }


async def seal_image(request: web.Request) -> web.StreamResponse:
    """The current seal image, for the preview on the seal page (admins only)."""
    actor = _admin(request)
    async with unit_of_work(request) as db:
        station = await service.station_of(db, actor)
    if not station.seal_file:
        raise web.HTTPNotFound()
    path = request.app[CONFIG].data_dir / station.seal_file
    return web.Response(body=path.read_bytes(), content_type="image/png")


#: The committee name's column width (``Station.mediation_committee``).
MAX_COMMITTEE_NAME = 100


async def seal_submit(request: web.Request) -> web.StreamResponse:
    """Upload the seal image and name the people's mediation committee."""
    actor = _admin(request)
    form = await request.post()
    upload = form.get("seal")
    committee = str(form.get("mediation_committee", "")).strip()
    try:
        if len(committee) > MAX_COMMITTEE_NAME:
            # Printed on every people's agreement: refused, never cut.
            raise ValidationFailed(
                N_("At most %(max_length)s characters."),
                params={"max_length": MAX_COMMITTEE_NAME},
                fields={"mediation_committee": "too_long"},
            )
        async with unit_of_work(request) as db:
            station = await service.station_of(db, actor)
            station.mediation_committee = committee
            if isinstance(upload, web.FileField) and upload.filename:
                data = upload.file.read(station_seal.MAX_SEAL_IMAGE_BYTES + 1)
                await station_seal.set_station_seal(
                    db, actor, station, data, data_dir=request.app[CONFIG].data_dir
                )
            elif not station.seal_file:
                raise ValidationFailed(N_("Choose a PNG image of the seal."))
    except ValidationFailed as exc:
        async with unit_of_work(request) as db:
            station = await service.station_of(db, actor)
        context = _seal_context(request, station, r.message_of(exc))
        return r.render(request, "admin_seal.html", context, status=422)
    raise redirect("/admin/seal?notice=saved")

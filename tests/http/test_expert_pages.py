"""The expert pool pages: list and filters, the form, import, export, permissions."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import UTC, datetime, timedelta

import openpyxl  # type: ignore[import-untyped]
import pytest
from aiohttp import FormData
from sqlmodel import col, select

from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.disputes.lifecycle import Category
from server.experts import importing, service
from server.experts.kinds import ExpertKind
from server.experts.schemas import ExpertInput
from server.http.pages.experts import PAYLOAD_TTL_SECONDS, PayloadRefused, PayloadSigner
from server.models import (
    AuditEvent,
    Dispute,
    Expert,
    ExpertOffice,
    ExpertSpecialty,
    Invitation,
    MediationSession,
)
from tests.conftest import Client, Seed, login

PAYLOAD = re.compile(r'name="payload" value="([^"]+)"')
HEADER = "姓名,类别,单位,擅长领域,电话,服务警务室,备注"


async def add_expert(
    factory: SessionFactory, seed: Seed, *, by: str = "officer", **fields: object
) -> int:
    data = {"name": "李明", "kind": ExpertKind.LAWYER, "phone": "13800138001", **fields}
    async with transaction(factory) as db:
        actor = actor_for(seed.users[by], ip="", user_agent="")
        expert = await service.create_expert(db, actor, ExpertInput.model_validate(data))
    assert expert.id is not None
    return expert.id


async def invite(factory: SessionFactory, seed: Seed, expert_id: int, starts_at: datetime) -> None:
    """A booked session with a live invitation for the expert, written directly."""
    officer = seed.uid("officer")
    async with transaction(factory) as db:
        dispute = Dispute(
            station_id=seed.station_id,
            office_id=seed.office_a,
            title="养犬扰邻纠纷",
            category="neighbour",
            cause="犬只夜间吠叫",
            occurred_at=starts_at - timedelta(days=3),
            place="滨河小区",
            scale=2,
            trend="stable",
            source="walk_in",
            status="in_mediation",
            created_by_id=officer,
        )
        db.add(dispute)
        await db.flush()
        assert dispute.id is not None
        session = MediationSession(
            station_id=seed.station_id,
            office_id=seed.office_a,
            dispute_id=dispute.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=60),
            duration_minutes=60,
            legal_track="people",
            presiding_officer_id=officer,
            status="scheduled",
            created_by_id=officer,
        )
        db.add(session)
        await db.flush()
        assert session.id is not None
        db.add(
            Invitation(
                session_id=session.id,
                role="expert",
                expert_id=expert_id,
                display_name="李明",
                token_hash=f"{expert_id:064d}",
                issued_by_id=officer,
                expires_at=starts_at + timedelta(hours=12),
            )
        )


async def experts_named(factory: SessionFactory, station_id: int) -> list[str]:
    async with transaction(factory) as db:
        query = select(Expert.name).where(Expert.station_id == station_id)
        return sorted(await db.exec(query.order_by(col(Expert.id))))


async def actions(factory: SessionFactory) -> list[str]:
    async with transaction(factory) as db:
        query = select(AuditEvent.action).where(col(AuditEvent.action).startswith("expert."))
        return list(await db.exec(query.order_by(col(AuditEvent.id))))


def upload(csrf: str, data: bytes, filename: str = "experts.csv") -> FormData:
    form = FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


# --- the list ------------------------------------------------------------------------


async def test_list_filters(client: Client, seed: Seed, factory: SessionFactory) -> None:
    lawyer = await add_expert(
        factory, seed, specialties=["neighbour"], office_ids=[seed.office_a], organisation="明理所"
    )
    await add_expert(
        factory,
        seed,
        name="张芳",
        kind="legal_police",
        phone="13800138002",
        specialties=["traffic"],
        office_ids=[seed.office_b],
    )
    await add_expert(factory, seed, name="王建国", kind="retired_cadre", phone="13800138003")
    async with transaction(factory) as db:
        retired = (await db.exec(select(Expert).where(Expert.name == "王建国"))).one()
        retired.active = False
    # 10:00-11:00 station time (Asia/Shanghai) on 15 January 2030.
    await invite(factory, seed, lawyer, datetime(2030, 1, 15, 2, 0, tzinfo=UTC))
    await login(client, "officer")

    async def names(query: str) -> set[str]:
        response = await client.get(f"/experts{query}")
        assert response.status == 200
        html = await response.text()
        return {n for n in ("李明", "张芳", "王建国") if f"<strong>{n}</strong>" in html}

    assert await names("") == {"李明", "张芳"}
    assert await names("?inactive=1") == {"李明", "张芳", "王建国"}
    assert await names("?kind=lawyer") == {"李明"}
    assert await names("?specialty=traffic") == {"张芳"}
    assert await names(f"?office_id={seed.office_b}") == {"张芳"}
    assert await names("?q=明理") == {"李明"}
    assert await names("?free_at=2030-01-15T10:30") == {"张芳"}
    assert await names("?free_at=2030-01-15T09:30&free_minutes=30") == {"李明", "张芳"}
    assert await names("?free_at=2030-01-15T09:30&free_minutes=31") == {"张芳"}
    assert await names("?free_at=2030-01-15T11:00&free_minutes=60") == {"李明", "张芳"}
    # A bad value is explained and dropped; the other filters still apply.
    response = await client.get("/experts?kind=chef&specialty=traffic")
    html = await response.text()
    assert 'id="kind-error"' in html and "<strong>张芳</strong>" in html
    assert "<strong>李明</strong>" not in html
    assert 'href="/experts/export.csv?specialty=traffic"' in html


async def test_phones_are_masked_for_auxiliaries_and_clerks(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    await add_expert(factory, seed)
    csrf = await login(client, "officer")
    assert "13800138001" in await (await client.get("/experts")).text()
    for username in ("auxiliary", "clerk"):
        await client.post("/logout", data={"csrf_token": csrf})
        csrf = await login(client, username)
        html = await (await client.get("/experts")).text()
        assert "138****8001" in html and "13800138001" not in html, username
        assert 'href="/experts/new"' not in html and "/experts/export" not in html


# --- the form ------------------------------------------------------------------------


async def test_add_and_edit(client: Client, seed: Seed, factory: SessionFactory) -> None:
    csrf = await login(client, "officer")
    response = await client.post(
        "/experts/new",
        data=[
            ("csrf_token", csrf),
            ("name", " 李明 "),
            ("kind", "lawyer"),
            ("organisation", "明理律师事务所"),
            ("phone", "138-0013-8001"),
            ("specialties", "neighbour"),
            ("specialties", "debt"),
            ("office_ids", str(seed.office_a)),
            ("office_ids", str(seed.office_b)),
            ("notes", "公益律师"),
            ("active", "on"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/experts?notice=created"
    async with transaction(factory) as db:
        expert = (await db.exec(select(Expert))).one()
        specialties = set(await db.exec(select(ExpertSpecialty.category)))
        offices = set(await db.exec(select(ExpertOffice.office_id)))
    assert (expert.name, expert.phone, expert.active) == ("李明", "13800138001", True)
    assert specialties == {"neighbour", "debt"} and offices == {seed.office_a, seed.office_b}

    page = await (await client.get(f"/experts/{expert.id}")).text()
    assert 'value="debt" checked' in page and f'value="{seed.office_b}" checked' in page
    response = await client.post(
        f"/experts/{expert.id}",
        data=[
            ("csrf_token", csrf),
            ("name", "李明"),
            ("kind", "people_mediator"),
            ("phone", "13800138001"),
            ("specialties", "family"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303
    async with transaction(factory) as db:
        view = await service.get_expert(
            db, actor_for(seed.users["officer"], ip="", user_agent=""), expert.id or 0
        )
    assert view.expert.kind == "people_mediator" and not view.expert.active
    assert view.specialties == ["family"] and view.office_ids == []
    assert "expert.create" in await actions(factory)


async def test_bad_input_is_explained_beside_the_field(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    await add_expert(factory, seed, name="赵律师", phone="13700137000")
    csrf = await login(client, "officer")
    base = {"csrf_token": csrf, "name": "李明", "kind": "lawyer", "phone": "13800138001"}
    cases = [
        ({"name": ""}, "name", 422, "This field is required."),
        ({"name": "李" * 41}, "name", 422, "At most 40 characters."),
        ({"phone": "12ab"}, "phone", 422, "Not a valid phone number."),
        ({"kind": "chef"}, "kind", 422, "Choose one of the offered options."),
        (
            {"phone": "137 0013 7000"},
            "phone",
            409,
            "Another expert (赵律师) has this phone number.",
        ),
    ]
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    for fields, field, status, message in cases:
        response = await client.post("/experts/new", data={**base, **fields})
        assert response.status == status, fields
        html = await response.text()
        assert f'<p class="field-error" id="{field}-error">{message}</p>' in html, fields
        assert 'value="13' in html or fields.get("phone") == "12ab"  # input kept
    response = await client.post("/experts/new", data={**base, "specialties": "cooking"})
    assert response.status == 422
    assert 'id="specialties-error"' in await response.text()
    other_station_office = seed.users["officer_c"].office_id
    for office in ("999999", str(other_station_office), "abc"):
        response = await client.post("/experts/new", data={**base, "office_ids": office})
        assert response.status == 422, office
        assert 'id="office_ids-error"' in await response.text(), office
    assert await experts_named(factory, seed.station_id) == ["赵律师"]


async def test_deactivate_and_activate(client: Client, seed: Seed, factory: SessionFactory) -> None:
    expert_id = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    response = await client.post(
        f"/experts/{expert_id}/deactivate", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/experts/{expert_id}?notice=deactivated"
    assert "<strong>李明</strong>" not in await (await client.get("/experts")).text()
    page = await (await client.get(f"/experts/{expert_id}?notice=deactivated")).text()
    assert f'action="/experts/{expert_id}/activate"' in page
    response = await client.post(f"/experts/{expert_id}/activate", data={"csrf_token": csrf})
    assert response.status == 200
    assert "<strong>李明</strong>" in await (await client.get("/experts")).text()
    assert (await actions(factory))[-2:] == ["expert.deactivate", "expert.activate"]


async def test_delete_only_when_never_invited(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    invited = await add_expert(factory, seed)
    typo = await add_expert(factory, seed, name="李明明", phone="13800138009")
    await invite(factory, seed, invited, datetime.now(UTC) + timedelta(days=2))
    csrf = await login(client, "officer")
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    response = await client.post(f"/experts/{invited}/delete", data={"csrf_token": csrf})
    assert response.status == 409
    assert "can only be deactivated" in await response.text()
    response = await client.post(
        f"/experts/{typo}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert await experts_named(factory, seed.station_id) == ["李明"]


# --- import --------------------------------------------------------------------------


async def test_import_preview_shows_row_errors_and_imports_nothing(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    await add_expert(factory, seed, name="赵律师", phone="13700137000")
    csrf = await login(client, "officer")
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    text = "\r\n".join(
        [
            HEADER,
            "李明,律师,,邻里纠纷,13800138001,滨河社区警务室,",
            "钱一,厨师,,,13800138002,,",
            "孙二,律师,,,13800138001,,",
            "周三,律师,,,13700137000,,",
            "吴四,律师,,炒股,13800138006,东湖社区警务室,",
            ",律师,,,13800138007,,",
        ]
    )
    response = await client.post("/experts/import", data=upload(csrf, text.encode("utf-8-sig")))
    assert response.status == 200
    html = await response.text()
    assert "5 of 6 rows need correcting" in html
    for message in (
        "Unknown kind “厨师”.",
        "Same phone number as line 2.",
        "This phone number already belongs to 赵律师 in the pool.",
        "Unknown specialty “炒股”.",
        "No beat office is named “东湖社区警务室”.",
        "Name: This field is required.",
    ):
        assert message in html, message
    assert PAYLOAD.search(html) is None
    assert await experts_named(factory, seed.station_id) == ["赵律师"]


async def test_a_clean_import_imports_everything_at_once(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    csrf = await login(client, "chief")
    text = "\r\n".join(
        [
            HEADER,
            "李明,律师,明理律师事务所,邻里纠纷、债务纠纷,13800138001,滨河社区警务室,",
            "张芳,法制民警,白石派出所,交通事故,13800138002,新村社区警务室,",
            "王建国,退休干部,,,13800138003,,老党员",
        ]
    )
    preview = await client.post("/experts/import", data=upload(csrf, text.encode("gb18030")))
    html = await preview.text()
    assert preview.status == 200, html
    match = PAYLOAD.search(html)
    assert match, html
    assert await experts_named(factory, seed.station_id) == []
    response = await client.post(
        "/experts/import",
        data={"csrf_token": csrf, "payload": match.group(1)},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/experts?notice=imported&count=3"
    assert await experts_named(factory, seed.station_id) == ["张芳", "李明", "王建国"]
    assert await actions(factory) == ["expert.import"]
    # Sending the same preview again imports nothing twice: the phones are now in the pool.
    again = await client.post(
        "/experts/import", data={"csrf_token": csrf, "payload": match.group(1)}
    )
    assert again.status == 409
    assert len(await experts_named(factory, seed.station_id)) == 3


async def test_an_xlsx_upload_previews(client: Client, seed: Seed) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["姓名", "类别", "电话"])
    sheet.append(["李明", "律师", 13800138001])
    buffer = io.BytesIO()
    workbook.save(buffer)
    csrf = await login(client, "officer")
    response = await client.post(
        "/experts/import", data=upload(csrf, buffer.getvalue(), "pool.xlsx")
    )
    assert response.status == 200
    assert PAYLOAD.search(await response.text())
    broken = await client.post("/experts/import", data=upload(csrf, b"PK\x03\x04junk", "x.xlsx"))
    assert broken.status == 422
    empty = await client.post("/experts/import", data=upload(csrf, b""))
    assert empty.status == 422
    nofile = await client.post("/experts/import", data={"csrf_token": csrf})
    assert nofile.status == 422


async def test_a_tampered_payload_is_refused(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    csrf = await login(client, "officer")
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    text = f"{HEADER}\r\n李明,律师,,,13800138001,,\r\n"
    html = await (await client.post("/experts/import", data=upload(csrf, text.encode()))).text()
    match = PAYLOAD.search(html)
    assert match
    body, _, mac = match.group(1).rpartition(".")
    for forged in (f"{body[:-2]}xx.{mac}", f"{body}.{'0' * 64}", "nonsense"):
        response = await client.post(
            "/experts/import", data={"csrf_token": csrf, "payload": forged}
        )
        assert response.status == 400
        assert "could not be verified" in await response.text()
    # Another user of the same station cannot replay it either.
    await client.post("/logout", data={"csrf_token": csrf})
    chief = await login(client, "chief")
    response = await client.post(
        "/experts/import", data={"csrf_token": chief, "payload": match.group(1)}
    )
    assert response.status == 400
    assert await experts_named(factory, seed.station_id) == []


# --- export --------------------------------------------------------------------------


async def test_export_csv_and_xlsx(client: Client, seed: Seed, factory: SessionFactory) -> None:
    await add_expert(
        factory, seed, specialties=["neighbour", "debt"], office_ids=[seed.office_a], notes="=1+1"
    )
    await add_expert(factory, seed, name="张芳", kind="legal_police", phone="+8613800138002")
    await login(client, "officer")
    response = await client.get("/experts/export.csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["姓名", "类别", "单位", "擅长领域", "电话", "服务警务室", "备注", "状态"]
    assert rows[1] == [
        "李明",
        "律师",
        "",
        "邻里纠纷、债务纠纷",
        "13800138001",
        "滨河社区警务室",
        "'=1+1",
        "在用",
    ]
    assert rows[2][4] == "'+8613800138002"

    response = await client.get("/experts/export.xlsx?kind=legal_police")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = openpyxl.load_workbook(io.BytesIO(await response.read()), read_only=True)
    values = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert values[0][0] == "姓名" and len(values) == 2
    assert values[1][:2] == ("张芳", "法制民警") and values[1][4] == "+8613800138002"
    assert await actions(factory) == [
        "expert.create",
        "expert.create",
        "expert.export",
        "expert.export",
    ]
    bad = await client.get("/experts/export.csv?kind=chef")
    assert bad.status == 422


# --- permissions ---------------------------------------------------------------------


async def test_permissions(client: Client, seed: Seed, factory: SessionFactory) -> None:
    mine = await add_expert(factory, seed)
    theirs = await add_expert(factory, seed, by="outsider", name="青山专家", phone="13900139000")
    csrf = await login(client, "clerk")
    assert (await client.get("/experts")).status == 200
    for path in (
        "/experts/new",
        f"/experts/{mine}",
        "/experts/import",
        "/experts/export.csv",
        "/experts/export.xlsx",
        "/experts/import/template.csv",
    ):
        assert (await client.get(path)).status == 403, path
    for path in ("/experts/new", "/experts/import", f"/experts/{mine}/deactivate"):
        response = await client.post(path, data={"csrf_token": csrf, "name": "x"})
        assert response.status == 403, path

    await client.post("/logout", data={"csrf_token": csrf})
    await login(client, "admin")
    assert (await client.get("/experts")).status == 403

    await client.post("/logout", data={"csrf_token": await login(client, "admin")})
    csrf = await login(client, "officer")
    assert (await client.get(f"/experts/{theirs}")).status == 404
    assert "青山专家" not in await (await client.get("/experts?inactive=1")).text()
    response = await client.post(f"/experts/{theirs}/delete", data={"csrf_token": csrf})
    assert response.status == 404
    assert (await client.get("/experts/abc")).status == 404

    response = await client.post(
        "/experts/new", data={"name": "无令牌", "kind": "lawyer", "phone": "13800138111"}
    )
    assert response.status == 403
    response = await client.post(f"/experts/{mine}/delete", data={})
    assert response.status == 403
    assert sorted(await experts_named(factory, seed.station_id)) == ["李明"]
    template = await client.get("/experts/import/template.csv")
    assert (await template.read()).decode("utf-8-sig").startswith("姓名,类别")


async def test_forms_render_for_managers(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    for path in ("/experts/new", "/experts/import", "/experts"):
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert "style=" not in html and "<script" not in html
    html = await (await client.get("/experts/new")).text()
    assert 'name="specialties" value="neighbour"' in html
    assert f'name="office_ids" value="{seed.office_a}"' in html
    assert len(Category) == html.count('name="specialties"')


# --- the signer behind the preview ---------------------------------------------------

SIGNED_CSV = f"{HEADER}\r\n李明,律师,,,13800138001,,\r\n张芳,法制民警,,,13800138002,,\r\n".encode()


def test_signed_rows_come_back_unchanged(seed: Seed) -> None:
    signer = PayloadSigner(b"k" * 32)
    officer = actor_for(seed.users["officer"], ip="", user_agent="")
    rows = importing.parse_csv(SIGNED_CSV)
    token = signer.sign(officer, rows, now=1000)
    assert signer.open(token, officer, now=1000 + 60) == rows


def test_changed_expired_or_foreign_payloads_are_refused(seed: Seed) -> None:
    signer = PayloadSigner(b"k" * 32)
    officer = actor_for(seed.users["officer"], ip="", user_agent="")
    chief = actor_for(seed.users["chief"], ip="", user_agent="")
    rows = importing.parse_csv(SIGNED_CSV)
    token = signer.sign(officer, rows, now=1000)
    body, _, mac = token.rpartition(".")
    attempts = [
        (body[:-4] + "AAAA." + mac, officer, 1000),
        (body + "." + "0" * 64, officer, 1000),
        ("garbage", officer, 1000),
        (PayloadSigner(b"x" * 32).sign(officer, rows, now=1000), officer, 1000),
        (token, chief, 1000),
        (token, officer, 1000 + PAYLOAD_TTL_SECONDS + 1),
    ]
    for candidate, actor, now in attempts:
        with pytest.raises(PayloadRefused):
            signer.open(candidate, actor, now=now)

"""The duty rota page: a week per office, adding (repeated weekly) and deleting slots,
Chinese errors beside the field, CSRF, and who may see and change which office."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select

from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.experts import service
from server.experts.schemas import ExpertInput
from server.models import AuditEvent, DutySlot
from tests.conftest import Client, Seed, login

MONDAY = date(2026, 12, 7)


async def add_expert(
    factory: SessionFactory, seed: Seed, kind: str = "lawyer", phone: str = "13600136000"
) -> int:
    async with transaction(factory) as db:
        expert = await service.create_expert(
            db, actor_for(seed.users["chief"]), ExpertInput(name="陈律师", kind=kind, phone=phone)
        )
    assert expert.id is not None
    return expert.id


async def slots(factory: SessionFactory) -> list[DutySlot]:
    async with factory() as db:
        return list(await db.exec(select(DutySlot).order_by(col(DutySlot.on_date))))


def slot_form(csrf: str, seed: Seed, expert_id: int, **overrides: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "office_id": str(seed.office_a),
        "on_date": MONDAY.isoformat(),
        "starts": "09:00",
        "ends": "12:00",
        "expert_kind": "lawyer",
        "expert_id": str(expert_id),
        "repeat_weeks": "1",
        **overrides,
    }


# Pinned: "this week" is the office's week, which starts on a Monday in Shanghai before it
# does in UTC.
@pytest.mark.parametrize("pinned_clock", [datetime(2027, 1, 3, 16, 30, tzinfo=UTC)], indirect=True)
async def test_the_default_week_is_the_offices_current_week(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    page = await client.get("/rota")
    html = await page.text()
    assert page.status == 200
    assert 'data-week="2027-01-04"' in html
    assert f'data-office-id="{seed.office_a}"' in html
    assert "轮流坐班值班表" in html


async def test_add_a_slot_repeated_weekly_and_delete_one(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    lawyer = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    done = await client.post(
        "/rota", data=slot_form(csrf, seed, lawyer, repeat_weeks="3"), allow_redirects=False
    )
    assert done.status == 303
    assert (
        done.headers["Location"]
        == f"/rota?office={seed.office_a}&week=2026-12-07&notice=added&count=3"
    )
    added = await slots(factory)
    assert [s.on_date.isoformat() for s in added] == ["2026-12-07", "2026-12-14", "2026-12-21"]
    page = await (await client.get(f"/rota?office={seed.office_a}&week=2026-12-16")).text()
    assert 'data-week="2026-12-14"' in page
    assert f'data-slot-id="{added[1].id}" data-expert-id="{lawyer}"' in page
    assert "已添加 3 个值班时段" not in page
    gone = await client.post(
        f"/rota/{added[1].id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert gone.status == 303
    assert [s.on_date.isoformat() for s in await slots(factory)] == ["2026-12-07", "2026-12-21"]
    async with factory() as db:
        actions = list(
            await db.exec(select(AuditEvent.action).where(AuditEvent.object_type == "beat_office"))
        )
    assert actions == ["rota.add", "rota.delete"]


async def test_a_slot_for_an_expert_of_the_wrong_kind_is_refused_in_chinese(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    mediator = await add_expert(factory, seed, kind="people_mediator")
    csrf = await login(client, "officer")
    refused = await client.post("/rota", data=slot_form(csrf, seed, mediator))
    html = await refused.text()
    assert refused.status == 422
    assert re.search(r'id="expert_id-error">陈律师 不属于该值班时段所需的专家类别', html)
    assert await slots(factory) == []


async def test_overlap_and_bad_input_are_refused_beside_the_field(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    lawyer = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    assert (
        await client.post("/rota", data=slot_form(csrf, seed, lawyer), allow_redirects=False)
    ).status == 303
    clash = await client.post(
        "/rota", data=slot_form(csrf, seed, lawyer, starts="11:00", ends="13:00", repeat_weeks="2")
    )
    assert clash.status == 422
    assert re.search(
        r'id="starts-error">陈律师 在 2026-12-07 已有值班时段（09:00–12:00）', await clash.text()
    )
    backwards = await client.post(
        "/rota", data=slot_form(csrf, seed, lawyer, starts="15:00", ends="14:00")
    )
    assert re.search(r'id="ends-error">结束时间须晚于开始时间', await backwards.text())
    too_many = await client.post(
        "/rota", data=slot_form(csrf, seed, lawyer, starts="15:00", ends="16:00", repeat_weeks="40")
    )
    assert re.search(r'id="repeat_weeks-error">', await too_many.text())
    no_date = await client.post("/rota", data=slot_form(csrf, seed, lawyer, on_date="明天"))
    assert re.search(r'id="on_date-error">请输入日期', await no_date.text())
    assert len(await slots(factory)) == 1


async def test_csrf_and_roles(client: Client, seed: Seed, factory: SessionFactory) -> None:
    lawyer = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    form = slot_form(csrf, seed, lawyer)
    without = {k: v for k, v in form.items() if k != "csrf_token"}
    assert (await client.post("/rota", data=without)).status == 403
    # An officer neither reads nor fills another office's rota.
    assert (await client.get(f"/rota?office={seed.office_b}")).status == 403
    other = {**form, "office_id": str(seed.office_b)}
    assert (await client.post("/rota", data=other)).status == 403
    await client.post("/logout", data={"csrf_token": csrf})
    # The clerk reads, with no form; the auxiliary reads their own office and cannot add.
    csrf = await login(client, "clerk")
    page = await client.get(f"/rota?office={seed.office_b}")
    assert page.status == 200
    assert 'id="rota-form"' not in await page.text()
    assert (await client.post("/rota", data={**form, "csrf_token": csrf})).status == 403
    await client.post("/logout", data={"csrf_token": csrf})
    csrf = await login(client, "auxiliary")
    assert 'id="rota-form"' not in await (await client.get("/rota")).text()
    assert (await client.post("/rota", data={**form, "csrf_token": csrf})).status == 403
    await client.post("/logout", data={"csrf_token": csrf})
    csrf = await login(client, "admin")
    assert (await client.get("/rota")).status == 403
    assert await slots(factory) == []
    await client.post("/logout", data={"csrf_token": csrf})
    # The chief keeps any office of the station.
    csrf = await login(client, "chief")
    done = await client.post("/rota", data={**other, "csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303
    assert [s.office_id for s in await slots(factory)] == [seed.office_b]


async def test_a_bad_week_shows_the_current_one_with_a_note(client: Client, seed: Seed) -> None:
    await login(client, "chief")
    page = await client.get(f"/rota?office={seed.office_a}&week=yesterday")
    assert page.status == 200
    assert "日期无效：显示本周" in await page.text()
    assert (await client.get("/rota?office=99999")).status == 404

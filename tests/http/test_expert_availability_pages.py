"""The expert's availability and relations page: Chinese errors by the field, CSRF, roles;
and the booking form shows why an expert is or is not suggested."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.experts import rota, service
from server.experts.schemas import ExpertInput
from server.models import ExpertAvailability, ExpertRelation
from server.pii import PiiVault
from tests.conftest import Client, Seed, login
from tests.sessions.helpers import new_dispute

TZ = ZoneInfo("Asia/Shanghai")


async def add_expert(
    factory: SessionFactory,
    seed: Seed,
    name: str = "陈律师",
    phone: str = "13600136000",
    **kw: object,
) -> int:
    async with transaction(factory) as db:
        expert = await service.create_expert(
            db,
            actor_for(seed.users["chief"]),
            ExpertInput.model_validate(
                {"name": name, "kind": "lawyer", "phone": phone, "specialties": ["neighbour"], **kw}
            ),
        )
    assert expert.id is not None
    return expert.id


async def entries(factory: SessionFactory) -> list[ExpertAvailability]:
    async with factory() as db:
        return list(await db.exec(select(ExpertAvailability)))


async def test_add_a_weekly_window_and_refuse_an_overlap_in_chinese(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    expert_id = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    page = await client.get(f"/experts/{expert_id}/availability")
    assert page.status == 200
    assert "专家可服务时间" in await page.text()
    url = f"/experts/{expert_id}/availability"
    form = {
        "csrf_token": csrf,
        "kind": "weekly",
        "weekday": "1",
        "starts": "14:00",
        "ends": "17:00",
    }
    done = await client.post(url, data=form, allow_redirects=False)
    assert done.status == 303
    assert len(await entries(factory)) == 1

    clash = await client.post(url, data={**form, "starts": "16:00", "ends": "18:00"})
    html = await clash.text()
    assert clash.status == 422
    assert "与同一星期已有的时段（14:00–17:00）重叠" in html
    # Beside the field, and the form keeps what was typed.
    assert re.search(r'id="starts-error">[^<]*重叠', html)
    assert 'value="16:00"' in html
    assert len(await entries(factory)) == 1

    backwards = await client.post(
        url, data={**form, "weekday": "2", "starts": "10:00", "ends": "09:00"}
    )
    assert backwards.status == 422
    assert re.search(r'id="ends-error">结束时间须晚于开始时间', await backwards.text())
    bad_time = await client.post(url, data={**form, "weekday": "2", "starts": "25:00"})
    assert re.search(r'id="starts-error">请输入时间', await bad_time.text())
    assert len(await entries(factory)) == 1


async def test_an_exception_saying_not_free_and_deleting_it(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    expert_id = await add_expert(factory, seed)
    csrf = await login(client, "chief")
    url = f"/experts/{expert_id}/availability"
    # The "available" box left unticked: an exception saying not free.
    form = {
        "csrf_token": csrf,
        "kind": "exception",
        "on_date": "2026-12-08",
        "starts": "09:00",
        "ends": "12:00",
        "note": "开庭",
    }
    assert (await client.post(url, data=form, allow_redirects=False)).status == 303
    [entry] = await entries(factory)
    assert (entry.kind, entry.available, entry.weekday, entry.note) == (
        "exception",
        False,
        None,
        "开庭",
    )
    page = await (await client.get(url)).text()
    assert f'data-entry-id="{entry.id}"' in page and 'data-available="no"' in page
    gone = await client.post(
        f"{url}/{entry.id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert gone.status == 303
    assert await entries(factory) == []


async def test_posts_need_the_csrf_token(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    expert_id = await add_expert(factory, seed)
    await login(client, "officer")
    form = {"kind": "weekly", "weekday": "1", "starts": "14:00", "ends": "17:00"}
    refused = await client.post(f"/experts/{expert_id}/availability", data=form)
    assert refused.status == 403
    refused = await client.post(
        f"/experts/{expert_id}/relations", data={"relation": "kin", "person_name": "王丽华"}
    )
    assert refused.status == 403
    assert await entries(factory) == []


async def test_clerks_and_auxiliaries_do_not_manage_declarations(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    expert_id = await add_expert(factory, seed)
    for username in ("clerk", "auxiliary"):
        csrf = await login(client, username)
        assert (await client.get(f"/experts/{expert_id}/availability")).status == 403
        form = {
            "csrf_token": csrf,
            "kind": "weekly",
            "weekday": "1",
            "starts": "14:00",
            "ends": "17:00",
        }
        assert (await client.post(f"/experts/{expert_id}/availability", data=form)).status == 403
        await client.post("/logout", data={"csrf_token": csrf})
    assert await entries(factory) == []
    csrf = await login(client, "outsider")
    assert (await client.get(f"/experts/{expert_id}/availability")).status == 404


async def test_declare_a_relation_with_errors_by_the_field(
    client: Client, seed: Seed, factory: SessionFactory
) -> None:
    expert_id = await add_expert(factory, seed)
    csrf = await login(client, "officer")
    url = f"/experts/{expert_id}/relations"
    both = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "relation": "kin",
            "person_name": "王丽华",
            "organisation": "宏达公司",
        },
    )
    assert both.status == 422
    assert re.search(
        r'id="organisation-error">每次只登记与一个人或一个单位的关系', await both.text()
    )
    bad_phone = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "relation": "kin",
            "person_name": "王丽华",
            "person_phone": "abc",
        },
    )
    assert re.search(r'id="person_phone-error">', await bad_phone.text())
    done = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "relation": "prior_counsel",
            "person_name": "王丽华",
            "person_phone": "138 0013 8001",
            "relation_note": "2024年代理",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    async with factory() as db:
        [relation] = list(await db.exec(select(ExpertRelation)))
    assert (relation.person_phone, relation.note) == ("13800138001", "2024年代理")
    page = await (await client.get(f"/experts/{expert_id}/availability")).text()
    assert "曾任代理人" in page and f'data-relation-id="{relation.id}"' in page
    gone = await client.post(
        f"{url}/{relation.id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert gone.status == 303
    async with factory() as db:
        assert list(await db.exec(select(ExpertRelation))) == []


async def test_the_booking_form_says_why(
    client: Client, seed: Seed, factory: SessionFactory, config: Config
) -> None:
    officer = actor_for(seed.users["officer"])
    dispute_id, _ = await new_dispute(factory, officer, vault=PiiVault(config.secret()), tz=TZ)
    on_duty = await add_expert(factory, seed, "甲律师", "13600000001")
    kin = await add_expert(factory, seed, "辛律师", "13600000008")
    day = datetime.now(TZ).date() + timedelta(days=3)
    async with transaction(factory) as db:
        await rota.add_slots(
            db, officer, rota.SlotInput(seed.office_a, day, time(9), time(12), "lawyer", on_duty)
        )
    csrf = await login(client, "officer")
    await client.post(
        f"/experts/{kin}/relations",
        data={"csrf_token": csrf, "relation": "kin", "person_name": "王丽华"},
    )
    form = {
        "csrf_token": csrf,
        "action": "suggest",
        "starts_at": f"{day.isoformat()}T10:00",
        "duration_minutes": "60",
        "legal_track": "people",
    }
    page = await client.post(f"/disputes/{dispute_id}/sessions/new", data=form)
    html = await page.text()
    assert re.search(rf'data-expert-id="{on_duty}" data-reason="on_duty"', html)
    assert re.search(rf'data-expert-id="{kin}" data-reason="relation"', html)
    assert "届时在本警务室值班" in html and "申报了与当事人的利害关系" in html
    # The early check names the relation, in Chinese.
    check = await client.post(
        f"/disputes/{dispute_id}/sessions/conflicts", data={**form, "expert_ids": str(kin)}
    )
    body = await check.json()
    assert body["checked"] is True
    assert "辛律师 申报了与 王丽华 的利害关系（亲属）。" in body["warnings"]

"""The follow-up pages and API: Chinese, CSRF on every form, each role seeing what it may.

The agreement behind each follow-up is sealed through the real services on
the app's own database, then the pages are driven through the real login.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from server.models import FollowUpRecord, FollowUpTask
from tests.agreements.test_sealed_text import InProcess
from tests.agreements.test_sealed_text import producer as producer
from tests.conftest import Client, csrf_from, login
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.disputes.helpers import ADULT_ID
from tests.followups.helpers import Sealed, seal_agreement, tasks_of
from tests.http.test_api import Api, check_error_shape


@pytest.fixture
async def sealed(env: Env, producer: InProcess) -> Sealed:
    return await seal_agreement(env, producer)


async def only_task(env: Env, sealed: Sealed) -> FollowUpTask:
    (task,) = await tasks_of(env, sealed.dispute_id)
    return task


async def records(env: Env) -> int:
    async with env.factory() as db:
        return (await db.exec(select(func.count()).select_from(FollowUpRecord))).one()


def local_input(env: Env, value: Any) -> str:
    return str(value.astimezone(env.tz).strftime("%Y-%m-%dT%H:%M"))


def form(csrf: str, task: FollowUpTask, env: Env, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf,
        "expected_version": str(task.version),
        "contacted_at": local_input(env, task.created_at + timedelta(minutes=1)),
        "method": "visit",
        "reached": "王丽华本人",
        "results.1": "performed",
        "results.2": "performed",
        "next_step": "",
        "note": "",
    }
    data.update(overrides)
    return data


async def test_the_list_and_the_form_are_in_chinese_and_record(
    client: Client, env: Env, sealed: Sealed
) -> None:
    task = await only_task(env, sealed)
    csrf = await login(client, "officer")
    listing = await (await client.get("/followups")).text()
    assert '<a href="/followups">回访</a>' in listing  # the navigation link
    assert "养犬扰邻" in listing and "协议履行回访" in listing
    assert ADULT_ID not in listing and ADULT_ID[-4:] not in listing
    page = await client.get(f"/followups/{task.id}")
    html = await page.text()
    assert page.status == 200
    assert "记录回访" in html
    assert "被申请人赔偿申请人医药费人民币800元。" in html  # the term's own words
    assert 'name="results.2" value="not_performed"' in html
    assert ADULT_ID not in html
    response = await client.post(
        f"/followups/{task.id}/record", data=form(csrf, task, env), allow_redirects=False
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"/followups/{task.id}?notice=recorded"
    shown = await (await client.get(response.headers["Location"])).text()
    assert "回访已记录。" in shown and "上门走访" in shown and "已履行" in shown
    assert "保存回访记录" not in shown
    detail = await (await client.get(f"/disputes/{sealed.dispute_id}")).text()
    assert 'id="followups"' in detail and "已完成" in detail
    assert await records(env) == 1


async def test_a_form_without_its_csrf_token_is_refused(
    client: Client, env: Env, sealed: Sealed
) -> None:
    task = await only_task(env, sealed)
    await login(client, "officer")
    data = form("", task, env)
    del data["csrf_token"]
    response = await client.post(f"/followups/{task.id}/record", data=data)
    assert response.status == 403
    assert await records(env) == 0


@pytest.mark.parametrize(
    ("overrides", "status", "chinese"),
    [
        ({"contacted_at": "2020-01-01T09:00"}, 422, "回访时间不能早于协议盖章归档的时间。"),
        ({"contacted_at": "2099-01-01T09:00"}, 422, "回访时间不能晚于现在。"),
        ({"results.2": ""}, 422, "请逐条填写履行情况（缺少第 2 条）。"),
        ({"results.3": "performed"}, 422, "这项回访不包括第 3 条。"),
        ({"results.2": "not_performed"}, 422, "协议未全部履行，请选择后续处理。"),
        ({"expected_version": "7"}, 409, "其他人刚刚记录了这项回访"),
    ],
)
async def test_bad_input_is_said_in_chinese_and_changes_nothing(
    client: Client,
    env: Env,
    sealed: Sealed,
    overrides: dict[str, str],
    status: int,
    chinese: str,
) -> None:
    task = await only_task(env, sealed)
    csrf = await login(client, "officer")
    response = await client.post(
        f"/followups/{task.id}/record", data=form(csrf, task, env, **overrides)
    )
    html = await response.text()
    assert response.status == status
    assert chinese in html
    assert 'value="王丽华本人"' in html  # what was typed is kept
    assert await records(env) == 0
    assert (await only_task(env, sealed)).status == "open"


async def test_book_another_session_goes_to_the_booking_page(
    client: Client, env: Env, sealed: Sealed
) -> None:
    task = await only_task(env, sealed)
    csrf = await login(client, "officer")
    data = form(csrf, task, env, **{"results.2": "partly", "next_step": "book"})
    response = await client.post(f"/followups/{task.id}/record", data=data, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/disputes/{sealed.dispute_id}/sessions/new"
    detail = await (await client.get(f"/disputes/{sealed.dispute_id}")).text()
    assert "重新启动处理" in detail and "回访后" in detail


@pytest.mark.parametrize(
    ("username", "list_status", "sees_form", "post_status"),
    [
        ("chief", 200, True, 303),
        ("officer", 200, True, 303),
        ("auxiliary", 200, False, 403),
        ("clerk", 200, False, 403),
        ("officer_b", 200, False, 403),
        ("admin", 403, False, 403),
    ],
)
async def test_the_role_matrix(
    client: Client,
    env: Env,
    sealed: Sealed,
    username: str,
    list_status: int,
    sees_form: bool,
    post_status: int,
) -> None:
    task = await only_task(env, sealed)
    csrf = await login(client, username)
    listing = await client.get("/followups")
    assert listing.status == list_status
    page = await client.get(f"/followups/{task.id}")
    html = await page.text()
    if username in ("officer_b", "admin"):
        assert page.status == 403
    else:
        assert page.status == 200
        assert ("保存回访记录" in html) == sees_form
        assert ("养犬扰邻" in await listing.text()) is True
    response = await client.post(
        f"/followups/{task.id}/record", data=form(csrf, task, env), allow_redirects=False
    )
    assert response.status == post_status
    assert await records(env) == (1 if post_status == 303 else 0)


async def test_an_office_outside_the_scope_is_refused_in_chinese(
    client: Client, env: Env, sealed: Sealed
) -> None:
    await login(client, "officer_b")
    response = await client.get("/followups", params={"office_id": str(env.seed.office_a)})
    assert response.status == 403
    html = await response.text()
    assert "该警务室不在您的权限范围内。" in html
    assert "养犬扰邻" not in html
    mine = await (await client.get("/followups")).text()
    assert "没有回访任务。" in mine


async def test_the_dashboard_shows_todays_follow_ups(
    client: Client, env: Env, sealed: Sealed
) -> None:
    task = await only_task(env, sealed)
    async with env.factory() as db, db.begin():
        row = await db.get(FollowUpTask, task.id)
        assert row is not None
        row.due_on = row.due_on - timedelta(days=60)  # overdue by now
    await login(client, "officer")
    html = await (await client.get("/")).text()
    assert "今日待办回访" in html
    assert f'href="/followups/{task.id}"' in html and "已逾期" in html


async def test_the_api_lists_and_records_with_the_error_shape(
    client: Client, env: Env, sealed: Sealed
) -> None:
    task = await only_task(env, sealed)
    api = Api(client)
    await api.login("officer")
    listed = await api.get("/api/v1/followups")
    assert listed.status == 200
    (item,) = (await listed.json())["items"]
    assert (item["id"], item["terms"], item["status"]) == (task.id, [1, 2], "open")
    body = {
        "expected_version": task.version,
        "contacted_at": (task.created_at + timedelta(minutes=1)).isoformat(),
        "method": "phone",
        "reached": "张国强",
        "results": {"1": "performed", "2": "performed", "3": "performed"},
    }
    refused = await api.post(f"/api/v1/followups/{task.id}/record", body)
    assert refused.status == 422
    fields = check_error_shape(await refused.json(), "validation_failed")
    assert set(fields) == {"results.3"}
    scope = await api.get("/api/v1/followups", office_id=str(env.seed.office_b))
    assert scope.status == 403
    check_error_shape(await scope.json(), "not_allowed")
    del body["results"]["3"]  # type: ignore[attr-defined]
    done = await api.post(f"/api/v1/followups/{task.id}/record", body)
    assert done.status == 201, await done.text()
    answer = await done.json()
    assert (answer["outcome"], answer["dispute_status"]) == ("performed", "closed")
    again = await api.post(f"/api/v1/followups/{task.id}/record", body)
    assert again.status == 409
    check_error_shape(await again.json(), "conflict")
    other = Api(client)
    await other.login("auxiliary")
    assert (await other.post(f"/api/v1/followups/{task.id}/record", body)).status == 403


async def test_the_list_filters_by_status(client: Client, env: Env, sealed: Sealed) -> None:
    task = await only_task(env, sealed)
    csrf = await login(client, "chief")
    await client.post(f"/followups/{task.id}/record", data=form(csrf, task, env))
    assert "养犬扰邻" not in await (await client.get("/followups")).text()
    done = await (await client.get("/followups", params={"status": "done"})).text()
    assert "养犬扰邻" in done
    bad = await client.get("/followups", params={"status": "nonsense"})
    assert bad.status == 200 and "请从给出的选项中选择。" in await bad.text()
    assert csrf_from(done)

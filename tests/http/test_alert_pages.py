"""预警 over real HTTP: the dashboard's red band in Chinese for the right office only, the
polled JSON, 签收 with CSRF, the alert on the dispute's page, 初判 on the form."""

from __future__ import annotations

import re

from sqlmodel import col, select

from server.keys import SESSIONS
from server.models import RiskAlert
from tests.conftest import Client, Seed, login
from tests.http.test_api import Api, check_error_shape, expect_error, expect_json
from tests.http.test_pages import register, register_form

ROUTE_ZH = "由分管所领导牵头处置"
URGENT = {"trend": "urgent", "title": "工地欠薪聚集"}


async def as_user(client: Client, username: str) -> str:
    client.session.cookie_jar.clear()
    return await login(client, username)


async def alerts_in_db(client: Client) -> list[RiskAlert]:
    async with client.app[SESSIONS]() as db:
        return list(await db.exec(select(RiskAlert).order_by(col(RiskAlert.id))))


def band(html: str) -> str:
    """The dashboard's band, from its opening tag to the end of its <ul> list."""
    start = html.index('<section id="risk-alerts"')
    return html[start : html.index("</ul>\n  <template", start)]


async def test_a_high_risk_registration_shows_in_red_on_its_offices_dashboard(
    client: Client, seed: Seed
) -> None:
    csrf = await as_user(client, "officer")
    dispute_id = await register(client, csrf, **URGENT)
    page = await client.get(f"/disputes/{dispute_id}")
    detail = await page.text()
    assert 'id="dispute-risk-alerts"' in detail and ROUTE_ZH in detail
    assert "事态紧急，可能引发冲突" in detail and "登记时" in detail
    assert "风险初判" in detail and "重点高危" in detail  # on the timeline
    assert "尚未分流。" in detail  # registration graded it, and did not triage

    html = await (await client.get("/")).text()
    shown = band(html)
    assert '<section id="risk-alerts"' in shown and " hidden" not in shown.split(">", 1)[0]
    assert f'data-alert-dispute="{dispute_id}"' in shown
    assert "风险预警" in shown and ROUTE_ZH in shown and "工地欠薪聚集" in shown
    assert "滨河社区警务室" in shown and "事态紧急，可能引发冲突" in shown
    assert ">签收</button>" in shown
    assert "js/risk_alerts.js" in html
    assert html.index('id="risk-alerts"') < html.index('class="stats"')  # at the top

    for username in ("chief", "clerk"):
        await as_user(client, username)
        html = await (await client.get("/")).text()
        assert f'data-alert-dispute="{dispute_id}"' in band(html)
    assert ">签收</button>" not in band(html)  # the clerk reads, and does not acknowledge

    await as_user(client, "officer_b")  # another office
    html = await (await client.get("/")).text()
    assert f'data-alert-dispute="{dispute_id}"' not in html
    assert re.search(r'<section id="risk-alerts"[^>]* hidden>', html)


async def test_a_calm_registration_shows_no_band(client: Client, seed: Seed) -> None:
    csrf = await as_user(client, "officer")
    dispute_id = await register(client, csrf, trend="stable")
    html = await (await client.get("/")).text()
    assert f'data-alert-dispute="{dispute_id}"' not in html
    assert re.search(r'<section id="risk-alerts"[^>]* hidden>', html)
    assert await alerts_in_db(client) == []


async def test_the_api_lists_the_callers_alerts_in_their_language(
    client: Client, seed: Seed
) -> None:
    csrf = await as_user(client, "officer")
    dispute_id = await register(client, csrf, **URGENT)
    api = Api(client)
    await api.login("officer")
    body = await expect_json(await api.get("/api/v1/alerts"))
    (item,) = body["items"]
    assert item["dispute"]["id"] == dispute_id and item["url"] == f"/disputes/{dispute_id}"
    assert item["route"] == "deputy_chief" and item["route_label"] == ROUTE_ZH
    assert item["risk_level"] == "high" and item["risk_label"] == "重点高危"
    assert item["reasons"] == [{"code": "urgent", "label": "事态紧急，可能引发冲突"}]
    assert item["office_name"] == "滨河社区警务室" and item["raised_on"] == "registration"
    assert item["raised_at"].endswith("Z") and item["can_acknowledge"] is True
    assert item["acknowledged_at"] is None

    await client.get("/lang/en")
    english = await expect_json(await api.get("/api/v1/alerts"))
    assert english["items"][0]["route_label"] == (
        "To be handled under the lead of the deputy chief in charge"
    )

    client.session.cookie_jar.clear()
    other = Api(client)
    await other.login("officer_b")
    assert (await expect_json(await other.get("/api/v1/alerts")))["items"] == []
    client.session.cookie_jar.clear()
    admin = Api(client)
    await admin.login("admin")
    await expect_error(await admin.get("/api/v1/alerts"), 403, "not_allowed")
    client.session.cookie_jar.clear()
    anonymous = await client.get("/api/v1/alerts")
    assert anonymous.status == 401
    check_error_shape(await anonymous.json(), "not_authenticated")


async def test_acknowledging_needs_csrf_then_wins_once(client: Client, seed: Seed) -> None:
    csrf = await as_user(client, "officer")
    dispute_id = await register(client, csrf, **URGENT)
    (alert,) = await alerts_in_db(client)
    path = f"/alerts/{alert.id}/acknowledge"
    refused = await client.post(path, data={"next": "/"}, allow_redirects=False)
    assert refused.status == 403
    wrong = await client.post(path, data={"csrf_token": "0" * 64}, allow_redirects=False)
    assert wrong.status == 403
    (still,) = await alerts_in_db(client)
    assert still.acknowledged_at is None

    done = await client.post(
        path, data={"csrf_token": csrf, "next": f"/disputes/{dispute_id}"}, allow_redirects=False
    )
    assert done.status == 303
    assert done.headers["Location"] == f"/disputes/{dispute_id}?notice=alert_acknowledged"
    detail = await (await client.get(done.headers["Location"])).text()
    assert "预警已签收。" in detail and "已由 测试officer" in detail and "签收了风险预警" in detail
    html = await (await client.get("/")).text()
    assert f'data-alert-dispute="{dispute_id}"' not in band(html)

    chief_csrf = await as_user(client, "chief")
    late = await client.post(path, data={"csrf_token": chief_csrf}, allow_redirects=False)
    assert late.status == 409
    assert "这条预警已由 测试officer 签收。" in await late.text()
    (after,) = await alerts_in_db(client)
    assert after.acknowledged_by_id == seed.uid("officer")


async def test_acknowledging_by_api_and_who_may(client: Client, seed: Seed) -> None:
    csrf = await as_user(client, "officer")
    await register(client, csrf, **URGENT)
    (alert,) = await alerts_in_db(client)
    path = f"/api/v1/alerts/{alert.id}/acknowledge"
    for username, status, code in [
        ("officer_b", 403, "not_allowed"),
        ("clerk", 403, "not_allowed"),
        ("outsider", 404, "not_found"),
    ]:
        client.session.cookie_jar.clear()
        api = Api(client)
        await api.login(username)
        await expect_error(await api.post(path), status, code)
    client.session.cookie_jar.clear()
    api = Api(client)
    await api.login("auxiliary")
    await expect_error(await client.post(path), 403, "csrf_failed")
    body = await expect_json(await api.post(path))
    assert body["acknowledged_by_id"] == seed.uid("auxiliary") and body["can_acknowledge"] is False
    again = await expect_error(await api.post(path), 409, "conflict")
    assert again == {}
    assert (await expect_json(await api.get("/api/v1/alerts")))["items"] == []


async def test_the_form_offers_the_first_grade_and_the_rule(client: Client, seed: Seed) -> None:
    csrf = await as_user(client, "officer")
    html = await (await client.get("/disputes/new")).text()
    assert "初判风险等级" in html and "按规则初判" in html
    assert "留空则按规则初判" in html and 'id="risk-proposal"' in html
    assert 'name="initial_risk"' in html and "js/risk_proposal.js" in html
    # Chosen by the registrar: a calm dispute graded high alerts, and says who graded it.
    dispute_id = await register(client, csrf, trend="stable", initial_risk="high")
    (alert,) = await alerts_in_db(client)
    assert alert.dispute_id == dispute_id and alert.reasons == "registrar"
    detail = await (await client.get(f"/disputes/{dispute_id}")).text()
    assert "登记人初判" in detail
    bad = await client.post(
        "/disputes/new", data=register_form(csrf, initial_risk="extreme"), allow_redirects=False
    )
    assert bad.status == 422
    assert len(await alerts_in_db(client)) == 1


async def test_the_rule_proposes_live_and_stores_nothing(client: Client, seed: Seed) -> None:
    api = Api(client)
    await api.login("officer")
    child = "110101201603074512"  # born 2016-03-07
    body = {
        "trend": "stable",
        "scale": 2,
        "category": "minor_injury",
        "parties": [{"id_type": "resident_id", "id_number": child, "minor": False}],
    }
    found = await expect_json(await api.post("/api/v1/risk-proposal", body))
    assert found["risk_level"] == "high" and found["risk_label"] == "重点高危"
    assert found["reasons"] == [{"code": "vulnerable_injured", "label": "未成年人或老年人受伤"}]
    calm = await expect_json(
        await api.post("/api/v1/risk-proposal", {**body, "category": "neighbour", "parties": []})
    )
    assert calm == {"risk_level": "general", "risk_label": "一般", "reasons": []}
    fields = await expect_error(
        await api.post("/api/v1/risk-proposal", {**body, "scale": 0}), 422, "validation_failed"
    )
    assert "scale" in fields
    await expect_error(await client.post("/api/v1/risk-proposal", json=body), 403, "csrf_failed")
    assert await alerts_in_db(client) == []

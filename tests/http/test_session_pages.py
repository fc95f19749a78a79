"""The session pages over real HTTP: booking, the issued links, the session page, the calendar."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from server.auth.sessions import actor_for
from server.db import SessionFactory
from server.keys import SESSIONS, VAULT
from server.models import Dispute, Invitation, MediationSession
from server.sessions import invitations
from server.sessions.invitations import hash_token
from server.sessions.rules import POLICE_CHECKS
from tests.conftest import Client, Seed, login
from tests.sessions.helpers import (
    APPLICANT_PHONE,
    TZ,
    child_id,
    local,
    new_dispute,
    new_expert,
)

LINK = re.compile(r"https?://[^/\s\"<]+/j/([A-Za-z0-9_\-]{43,})")
FORM_TIME = "%Y-%m-%dT%H:%M"
CAL_DAY = re.compile(r'class="cal-day[ "]')


# --- helpers -------------------------------------------------------------------------


def factory_of(client: Client) -> SessionFactory:
    return client.app[SESSIONS]


async def count(client: Client, model: Any) -> int:
    async with factory_of(client)() as db:
        return int((await db.exec(select(func.count()).select_from(model))).one())


async def make_dispute(client: Client, seed: Seed, **kw: Any) -> tuple[int, list[int]]:
    actor = actor_for(seed.users[kw.pop("by", "officer")])
    return await new_dispute(factory_of(client), actor, vault=client.app[VAULT], **kw)


async def make_experts(client: Client, seed: Seed) -> list[int]:
    actor = actor_for(seed.users["officer"])
    factory = factory_of(client)
    return [
        await new_expert(factory, actor, "陈律师", "13600136000", office_ids=[seed.office_a]),
        await new_expert(factory, actor, "刘主任", "13600136001", kind="community_cadre"),
        await new_expert(factory, actor, "赵干部", "13600136002", specialties=["debt"]),
    ]


def book_form(
    csrf: str,
    seed: Seed,
    parties: list[int],
    experts: list[int] | None = None,
    extra: list[tuple[str, str]] | None = None,
    **fields: str | None,
) -> list[tuple[str, str]]:
    values: dict[str, str | None] = {
        "csrf_token": csrf,
        "starts_at": local(3, 10).strftime(FORM_TIME),
        "duration_minutes": "60",
        "legal_track": "people",
        "presiding_officer_id": str(seed.uid("officer")),
        "note": "请双方携带相关材料",
        "action": "book",
    }
    values.update(fields)
    form = [(k, v) for k, v in values.items() if v is not None]
    form += [("party_ids", str(p)) for p in parties]
    form += [("expert_ids", str(e)) for e in experts or []]
    return form + (extra or [])


async def book(client: Client, dispute_id: int, form: list[tuple[str, str]]) -> tuple[int, str]:
    response = await client.post(f"/disputes/{dispute_id}/sessions/new", data=form)
    return response.status, await response.text()


def tokens_in(page: str) -> list[str]:
    return list(dict.fromkeys(LINK.findall(html.unescape(page))))


async def only_session_id(client: Client) -> int:
    async with factory_of(client)() as db:
        session = (await db.exec(select(MediationSession))).one()
    assert session.id is not None
    return session.id


async def booked(client: Client, seed: Seed, csrf: str, **kw: Any) -> tuple[int, int, str]:
    """A dispute with a session booked through the form: (dispute id, session id, issued page)."""
    dispute_id, parties = await make_dispute(client, seed)
    status, page = await book(client, dispute_id, book_form(csrf, seed, parties, **kw))
    assert status == 200, page
    return dispute_id, await only_session_id(client), page


async def open_token(client: Client, token: str) -> invitations.Door | None:
    async with factory_of(client)() as db, db.begin():
        return await invitations.open_link(db, token, ip="10.1.1.1", user_agent="pytest")


# --- the booking form ----------------------------------------------------------------


async def test_booking_form_offers_people_officers_and_experts(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    await make_experts(client, seed)
    dispute_id, parties = await make_dispute(client, seed)
    response = await client.get(f"/disputes/{dispute_id}/sessions/new")
    page = await response.text()
    assert response.status == 200, page
    assert 'type="datetime-local"' in page
    for party_id in parties:
        assert re.search(rf'name="party_ids" value="{party_id}" checked', page)
    assert f'<option value="{seed.uid("officer")}" selected' in page
    assert f'<option value="{seed.uid("officer_b")}"' not in page  # another office's officer
    assert f'<option value="{seed.uid("chief")}"' in page
    # Suggested: the two neighbour experts; the debt expert only in the rest of the pool.
    suggested, rest = page.split('class="pool"')
    assert "陈律师" in suggested and "刘主任" in suggested and "赵干部" not in suggested
    assert "赵干部" in rest
    assert 'name="legal_track" value="police" disabled' not in page
    assert page.count('name="police_checks"') == len(POLICE_CHECKS)
    assert 'name="observers.2.name"' in page
    assert "<script>" not in page and 'style="' not in page


async def test_police_is_disabled_with_a_reason_for_a_debt(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    dispute_id, _parties = await make_dispute(client, seed, category="debt", title="借款纠纷")
    page = await (await client.get(f"/disputes/{dispute_id}/sessions/new")).text()
    assert 'name="legal_track" value="police" disabled aria-describedby="police-why"' in page
    assert 'id="police-why"' in page
    assert 'name="police_checks"' not in page


async def test_refresh_suggestions_books_nothing(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    lawyer, cadre, _debt = await make_experts(client, seed)
    first_id, first_parties = await make_dispute(client, seed)
    status, _page = await book(client, first_id, book_form(csrf, seed, first_parties, [lawyer]))
    assert status == 200
    second_id, second_parties = await make_dispute(client, seed, title="漏水纠纷")
    form = book_form(csrf, seed, second_parties, action="suggest")
    status, page = await book(client, second_id, form)
    assert status == 200
    assert await count(client, MediationSession) == 1
    suggested = page.split('class="pool"')[0]
    assert "刘主任" in suggested and "陈律师" not in suggested  # the lawyer is busy then
    assert "Booked elsewhere at this time" in page
    assert cadre


async def test_booking_through_the_form_shows_every_link_once(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    experts = await make_experts(client, seed)
    dispute_id, parties = await make_dispute(client, seed)
    response = await client.post(
        f"/disputes/{dispute_id}/sessions/new",
        data=book_form(
            csrf,
            seed,
            parties,
            experts,
            extra=[("observers.1.name", "社区网格员"), ("observers.1.phone", "13700137000")],
        ),
    )
    page = await response.text()
    assert response.status == 200, page
    assert response.headers["Cache-Control"] == "no-store"
    tokens = tokens_in(page)
    assert len(tokens) == 6  # two parties, three experts, one observer
    assert page.count("<svg") == 6
    assert "<?xml" not in page
    assert page.count("<textarea") == 6
    unescaped = html.unescape(page)
    for token in tokens:
        # The Chinese text carries the personal link.
        assert re.search(rf"您好：[^<]*/j/{re.escape(token)}", unescaped)
    assert "王丽华" in page and "张国强" in page and "社区网格员" in page
    assert "js/invitations.js" in page and "css/sessions.css" in page
    assert "data-print" in page and "data-copy" in page

    async with factory_of(client)() as db:
        stored = list(await db.exec(select(Invitation)))
        dispute = await db.get(Dispute, dispute_id)
    assert {i.token_hash for i in stored} == {hash_token(t) for t in tokens}
    assert dispute is not None and dispute.status == "in_mediation"
    for token in tokens:
        assert await open_token(client, token) is not None

    # The session page never shows the links again.
    session_id = await only_session_id(client)
    detail = await (await client.get(f"/sessions/{session_id}")).text()
    assert tokens_in(detail) == []
    assert all(t not in detail for t in tokens)


@pytest.mark.parametrize(
    ("overrides", "extra_experts", "message"),
    [
        ({"starts_at": None}, [], "This field is required."),
        ({"starts_at": "tomorrow-ish"}, [], "Enter a date and time"),
        ({"duration_minutes": "5"}, [], "Must be at least 15."),
        ({}, ["999999"], "Choose active experts from the pool."),
        ({"presiding_officer_id": "abc"}, [], "Must be a whole number."),
        ({"legal_track": "police"}, [], "Confirm every condition for police mediation."),
    ],
)
async def test_bad_booking_input_rerenders_and_writes_nothing(
    client: Client,
    seed: Seed,
    overrides: dict[str, Any],
    extra_experts: list[str],
    message: str,
) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed)
    extra = [("expert_ids", e) for e in extra_experts]
    status, page = await book(
        client, dispute_id, book_form(csrf, seed, parties, extra=extra, **overrides)
    )
    assert status == 422, page
    assert message in html.unescape(page)
    assert 'class="field-error"' in page
    assert "养犬扰邻纠纷" in page  # the form again, input kept
    assert re.search(rf'name="party_ids" value="{parties[0]}" checked', page)
    assert await count(client, MediationSession) == 0
    assert await count(client, Invitation) == 0


async def test_police_for_an_ineligible_category_is_refused(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed, category="debt", title="借款纠纷")
    checks = [("police_checks", key) for key in POLICE_CHECKS]
    form = book_form(csrf, seed, parties, extra=checks, legal_track="police")
    status, page = await book(client, dispute_id, form)
    assert status == 422
    assert "use people&#39;s mediation" in page or "use people's mediation" in html.unescape(page)
    assert 'id="legal_track-error"' in page
    assert await count(client, MediationSession) == 0


async def test_a_missing_police_check_is_shown_beside_it(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed, category="minor_injury")
    first, *rest = POLICE_CHECKS
    checks = [("police_checks", key) for key in rest]
    status, page = await book(
        client, dispute_id, book_form(csrf, seed, parties, extra=checks, legal_track="police")
    )
    assert status == 422
    assert f'id="police_checks.{first}-error"' in page
    assert all(f'value="{key}" checked' in page for key in rest)
    checks.append(("police_checks", first))
    status, page = await book(
        client, dispute_id, book_form(csrf, seed, parties, extra=checks, legal_track="police")
    )
    assert status == 200, page
    assert len(tokens_in(page)) == 2


async def test_an_observer_error_is_shown_in_its_own_row(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed)
    extra = [("observers.2.name", "翻译"), ("observers.2.phone", "not a phone")]
    status, page = await book(client, dispute_id, book_form(csrf, seed, parties, extra=extra))
    assert status == 422
    assert 'id="observers.2.phone-error"' in page
    assert 'id="observers.0.phone-error"' not in page
    assert 'value="not a phone"' in page


async def test_booking_without_csrf_is_refused(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed)
    form = [(k, v) for k, v in book_form(csrf, seed, parties) if k != "csrf_token"]
    status, _page = await book(client, dispute_id, form)
    assert status == 403
    form = [(k, "0" * 64 if k == "csrf_token" else v) for k, v in book_form(csrf, seed, parties)]
    status, _page = await book(client, dispute_id, form)
    assert status == 403
    assert await count(client, MediationSession) == 0
    assert await count(client, Invitation) == 0


async def test_conflicts_need_a_ticked_confirmation(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    lawyer, *_others = await make_experts(client, seed)
    first_id, first_parties = await make_dispute(client, seed)
    status, _page = await book(client, first_id, book_form(csrf, seed, first_parties, [lawyer]))
    assert status == 200
    second_id, second_parties = await make_dispute(client, seed, title="漏水纠纷")
    form = book_form(csrf, seed, second_parties, [lawyer], presiding_officer_id=None)
    form.append(("presiding_officer_id", str(seed.uid("chief"))))
    status, page = await book(client, second_id, form)
    assert status == 409
    assert "陈律师 is already booked for another session at this time." in html.unescape(page)
    assert 'name="confirm_conflicts"' in page
    assert await count(client, MediationSession) == 1

    status, page = await book(client, second_id, form + [("confirm_conflicts", "on")])
    assert status == 200, page
    assert "Booked although:" in page
    assert len(tokens_in(page)) == 3
    assert await count(client, MediationSession) == 2


async def check_conflicts(
    client: Client, dispute_id: int, form: list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/disputes/{dispute_id}/sessions/conflicts", data=form)
    return response.status, await response.json()


async def test_conflicts_are_told_while_the_form_is_filled(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    lawyer, cadre, _debt = await make_experts(client, seed)
    first_id, first_parties = await make_dispute(client, seed)
    status, _page = await book(client, first_id, book_form(csrf, seed, first_parties, [lawyer]))
    assert status == 200
    second_id, second_parties = await make_dispute(client, seed, title="漏水纠纷")

    # The same time and the same presiding officer, nobody else chosen yet.
    status, answer = await check_conflicts(client, second_id, book_form(csrf, seed, []))
    assert status == 200
    assert answer == {
        "checked": True,
        "warnings": ["The presiding officer already presides another session at this time."],
    }
    # Another presiding officer, and the lawyer booked at that time.
    form = book_form(csrf, seed, second_parties, [lawyer, cadre], presiding_officer_id=None)
    status, answer = await check_conflicts(client, second_id, form)
    assert (status, answer["warnings"]) == (
        200,
        ["陈律师 is already booked for another session at this time."],
    )
    # An hour later everything is clear; without a time there is nothing to check yet.
    later = local(3, 11).strftime(FORM_TIME)
    status, answer = await check_conflicts(
        client, second_id, book_form(csrf, seed, [], [lawyer], starts_at=later)
    )
    assert (status, answer) == (200, {"checked": True, "warnings": []})
    status, answer = await check_conflicts(
        client, second_id, book_form(csrf, seed, [], starts_at="")
    )
    assert (status, answer) == (200, {"checked": False, "warnings": []})
    # Nothing was booked by asking.
    assert await count(client, MediationSession) == 1


async def test_the_conflict_check_refuses_bad_input_in_the_api_shape(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    dispute_id, _parties = await make_dispute(client, seed)
    status, answer = await check_conflicts(
        client, dispute_id, book_form(csrf, seed, [], extra=[("expert_ids", "9" * 40)])
    )
    assert status == 422 and answer["error"]["code"] == "validation_failed"
    status, answer = await check_conflicts(client, dispute_id, book_form(csrf, seed, [], [999]))
    assert status == 422 and set(answer["error"]["fields"]) == {"expert_ids"}
    status, answer = await check_conflicts(client, 99999, book_form(csrf, seed, []))
    assert status == 404 and answer["error"]["code"] == "not_found"


async def test_the_conflict_check_needs_csrf_a_login_and_a_booker(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    dispute_id, _parties = await make_dispute(client, seed)
    url = f"/disputes/{dispute_id}/sessions/conflicts"
    without = [(k, v) for k, v in book_form(csrf, seed, []) if k != "csrf_token"]
    assert (await client.post(url, data=without)).status == 403
    csrf = await login(client, "clerk")
    status, answer = await check_conflicts(client, dispute_id, book_form(csrf, seed, []))
    assert status == 403 and answer["error"]["code"] == "not_allowed"
    await client.post("/logout", data={"csrf_token": csrf})
    client.session.cookie_jar.clear()
    response = await client.post(url, data=book_form("", seed, []), allow_redirects=False)
    assert response.status in (401, 403)
    assert "warnings" not in await response.text()


async def test_police_checks_posted_with_the_peoples_track_are_ignored(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    dispute_id, parties = await make_dispute(client, seed, category="minor_injury")
    page = await (await client.get(f"/disputes/{dispute_id}/sessions/new")).text()
    # The checklist is there for the script to show, hidden while the people's track is chosen.
    assert re.search(r'<fieldset class="police-checks" id="police_checks"\s+hidden>', page)
    checks = [("police_checks", key) for key in list(POLICE_CHECKS)[:2]]
    status, page = await book(client, dispute_id, book_form(csrf, seed, parties, extra=checks))
    assert status == 200, page
    async with factory_of(client)() as db:
        session = (await db.exec(select(MediationSession))).one()
    assert session.legal_track == "people" and not session.police_checks_confirmed


async def test_clerks_cannot_open_the_booking_form(client: Client, seed: Seed) -> None:
    dispute_id, parties = await make_dispute(client, seed)
    csrf = await login(client, "clerk")
    response = await client.get(f"/disputes/{dispute_id}/sessions/new")
    assert response.status == 403
    status, _page = await book(client, dispute_id, book_form(csrf, seed, parties))
    assert status == 403
    assert await count(client, MediationSession) == 0


async def test_another_office_cannot_book_or_see(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    _dispute_id, session_id, _page = await booked(client, seed, csrf)
    other_dispute, other_parties = await make_dispute(client, seed, title="另一纠纷")
    client.session.cookie_jar.clear()
    csrf_b = await login(client, "officer_b")
    assert (await client.get(f"/disputes/{other_dispute}/sessions/new")).status == 403
    assert (await client.get(f"/sessions/{session_id}")).status == 403
    status, _page = await book(client, other_dispute, book_form(csrf_b, seed, other_parties))
    assert status == 403
    client.session.cookie_jar.clear()
    await login(client, "outsider")
    assert (await client.get(f"/sessions/{session_id}")).status == 404


async def test_an_untriaged_dispute_has_no_booking_form(client: Client, seed: Seed) -> None:
    await login(client, "officer")
    dispute_id, _parties = await make_dispute(client, seed, triaged=False)
    response = await client.get(f"/disputes/{dispute_id}/sessions/new")
    assert response.status == 409


# --- the session page ----------------------------------------------------------------


async def test_session_page_lists_invitations(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    dispute_id, session_id, _page = await booked(client, seed, csrf)
    response = await client.get(f"/sessions/{session_id}")
    page = await response.text()
    assert response.status == 200, page
    assert f'href="/disputes/{dispute_id}"' in page
    assert "王丽华" in page and "张国强" in page
    assert APPLICANT_PHONE in page  # officers see phones
    assert page.count('/reissue"') == 2
    assert page.count('/revoke"') == 2
    assert f'action="/sessions/{session_id}/reschedule"' in page
    assert f'action="/sessions/{session_id}/cancel"' in page
    assert f'action="/sessions/{session_id}/invite"' in page
    assert f'action="/sessions/{session_id}/reissue-all"' in page


async def test_auxiliaries_see_masked_phones_and_clerks_no_actions(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "officer")
    _dispute_id, session_id, _page = await booked(client, seed, csrf)
    client.session.cookie_jar.clear()
    await login(client, "auxiliary")
    page = await (await client.get(f"/sessions/{session_id}")).text()
    assert APPLICANT_PHONE not in page and "138****8001" in page
    assert '/revoke"' in page  # auxiliaries may manage links
    client.session.cookie_jar.clear()
    clerk_csrf = await login(client, "clerk")
    page = await (await client.get(f"/sessions/{session_id}")).text()
    assert '/revoke"' not in page and '/cancel"' not in page
    async with factory_of(client)() as db:
        invitation = (await db.exec(select(Invitation))).first()
    assert invitation is not None
    response = await client.post(
        f"/sessions/{session_id}/invitations/{invitation.id}/revoke",
        data={"csrf_token": clerk_csrf, "reason": "试一试"},
    )
    assert response.status == 403
    response = await client.post(
        f"/sessions/{session_id}/invitations/{invitation.id}/reissue",
        data={"csrf_token": clerk_csrf},
    )
    assert response.status == 403


async def test_revoke_then_reissue(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    _dispute_id, session_id, page = await booked(client, seed, csrf)
    first_token = tokens_in(page)[0]
    async with factory_of(client)() as db:
        invitation = (
            await db.exec(
                select(Invitation).where(Invitation.token_hash == hash_token(first_token))
            )
        ).one()
    base = f"/sessions/{session_id}/invitations/{invitation.id}"

    response = await client.post(f"{base}/revoke", data={"csrf_token": csrf, "reason": ""})
    assert response.status == 422
    assert 'id="reason-error"' in await response.text()

    response = await client.post(
        f"{base}/revoke", data={"csrf_token": csrf, "reason": "发错了号码"}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/sessions/{session_id}?notice=revoked"
    assert await open_token(client, first_token) is None
    detail = await (await client.get(f"/sessions/{session_id}")).text()
    assert "Revoked" in detail and "发错了号码" in detail

    response = await client.post(
        f"{base}/revoke", data={"csrf_token": csrf, "reason": "再撤一次"}, allow_redirects=False
    )
    assert response.status == 409  # already revoked, shown on the page

    response = await client.post(f"{base}/reissue", data={"csrf_token": csrf})
    page = await response.text()
    assert response.status == 200, page
    assert response.headers["Cache-Control"] == "no-store"
    (new_token,) = tokens_in(page)
    assert new_token != first_token
    assert page.count("<svg") == 1
    assert await open_token(client, new_token) is not None
    assert await open_token(client, first_token) is None

    # Another session's invitation cannot be reached through this session's address.
    response = await client.post(
        f"/sessions/{session_id + 1}/invitations/{invitation.id}/reissue",
        data={"csrf_token": csrf},
    )
    assert response.status == 404


async def test_reissue_all_replaces_every_live_link(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    _dispute_id, session_id, page = await booked(client, seed, csrf)
    old = tokens_in(page)
    response = await client.post(f"/sessions/{session_id}/reissue-all", data={"csrf_token": csrf})
    page = await response.text()
    assert response.status == 200
    new = tokens_in(page)
    assert len(new) == 2 and not set(new) & set(old)
    for token in old:
        assert await open_token(client, token) is None
    for token in new:
        assert await open_token(client, token) is not None


async def test_invite_more_issues_links_for_the_new_invitees(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    lawyer, *_rest = await make_experts(client, seed)
    _dispute_id, session_id, _page = await booked(client, seed, csrf)
    detail = await (await client.get(f"/sessions/{session_id}")).text()
    assert f'name="expert_ids" value="{lawyer}"' in detail
    response = await client.post(
        f"/sessions/{session_id}/invite",
        data=[
            ("csrf_token", csrf),
            ("expert_ids", str(lawyer)),
            ("observers.0.name", "翻译 小周"),
        ],
    )
    page = await response.text()
    assert response.status == 200, page
    assert len(tokens_in(page)) == 2
    assert await count(client, Invitation) == 4

    response = await client.post(
        f"/sessions/{session_id}/invite", data=[("csrf_token", csrf), ("expert_ids", str(lawyer))]
    )
    assert response.status == 409
    assert "陈律师 is already invited." in await response.text()
    response = await client.post(f"/sessions/{session_id}/invite", data={"csrf_token": csrf})
    assert response.status == 422
    assert await count(client, Invitation) == 4


async def test_reschedule_shows_texts_for_the_new_time(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    _dispute_id, session_id, _page = await booked(client, seed, csrf)
    new_time = local(8, 15, 30)
    response = await client.post(
        f"/sessions/{session_id}/reschedule",
        data={
            "csrf_token": csrf,
            "starts_at": new_time.strftime(FORM_TIME),
            "duration_minutes": "90",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/sessions/{session_id}?notice=rescheduled"
    page = await (await client.get(response.headers["Location"])).text()
    assert "The session has been moved." in page
    assert len(re.findall(r'id="moved-\d+"', page)) == 2
    assert f"{new_time.month}月{new_time.day}日" in page and "15:30" in page
    assert "原链接继续有效" in page
    assert tokens_in(page) == []

    response = await client.post(
        f"/sessions/{session_id}/reschedule",
        data={"csrf_token": csrf, "starts_at": "2000-01-01T10:00", "duration_minutes": "60"},
    )
    assert response.status == 422
    assert "The session cannot start in the past." in await response.text()


async def test_reschedule_onto_a_busy_expert_asks_first(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    lawyer, *_rest = await make_experts(client, seed)
    first_id, first_parties = await make_dispute(client, seed)
    status, _page = await book(
        client,
        first_id,
        book_form(csrf, seed, first_parties, [lawyer], starts_at=None)
        + [("starts_at", local(2, 9).strftime(FORM_TIME))],
    )
    assert status == 200
    second_id, second_parties = await make_dispute(client, seed, title="漏水纠纷")
    status, _page = await book(client, second_id, book_form(csrf, seed, second_parties, [lawyer]))
    assert status == 200
    async with factory_of(client)() as db:
        second = (
            await db.exec(select(MediationSession).where(MediationSession.dispute_id == second_id))
        ).one()
    form = {
        "csrf_token": csrf,
        "starts_at": local(2, 9, 30).strftime(FORM_TIME),
        "duration_minutes": "60",
    }
    response = await client.post(f"/sessions/{second.id}/reschedule", data=form)
    page = await response.text()
    assert response.status == 409
    assert "陈律师 is already booked" in html.unescape(page)
    assert 'name="confirm_conflicts"' in page
    response = await client.post(
        f"/sessions/{second.id}/reschedule",
        data={**form, "confirm_conflicts": "on"},
        allow_redirects=False,
    )
    assert response.status == 303


async def test_cancel_shows_a_cancellation_text_per_invitee(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    _dispute_id, session_id, page = await booked(client, seed, csrf)
    tokens = tokens_in(page)
    response = await client.post(
        f"/sessions/{session_id}/cancel", data={"csrf_token": csrf, "reason": "x"}
    )
    assert response.status == 422
    response = await client.post(
        f"/sessions/{session_id}/cancel",
        data={"csrf_token": csrf, "reason": "双方已自行和解"},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await client.get(response.headers["Location"])).text()
    assert "The session has been cancelled" in page
    assert len(re.findall(r'id="cancel-\d+"', page)) == 2
    assert page.count("远程调解已取消") == 2
    assert "双方已自行和解" in page
    assert f'action="/sessions/{session_id}/reschedule"' not in page
    for token in tokens:
        assert await open_token(client, token) is None
    response = await client.post(f"/sessions/{session_id}/reissue-all", data={"csrf_token": csrf})
    assert response.status == 409
    assert "cannot be reissued" in await response.text()


# --- the calendar --------------------------------------------------------------------


@pytest.mark.around_local_midnight
async def test_calendar_day_and_week(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    starts = local(3, 14, 0)
    _dispute_id, session_id, _page = await booked(
        client, seed, csrf, starts_at=starts.strftime(FORM_TIME)
    )
    day = starts.date().isoformat()
    week = await client.get(f"/sessions?day={day}")
    page = await week.text()
    assert week.status == 200, page
    assert f'href="/sessions/{session_id}"' in page
    assert "养犬扰邻纠纷" in page and "14:00" in page
    assert len(CAL_DAY.findall(page)) == 7
    assert "cal-week" in page
    assert "测试officer" in page  # the presiding officer

    one_day = await (await client.get(f"/sessions?view=day&day={day}")).text()
    assert len(CAL_DAY.findall(one_day)) == 1
    assert f'href="/sessions/{session_id}"' in one_day
    other_day = starts.date().replace(day=1) if starts.day > 1 else starts.date().replace(day=2)
    empty = await (await client.get(f"/sessions?view=day&day={other_day.isoformat()}")).text()
    assert f'href="/sessions/{session_id}"' not in empty

    # Default: this week, from Monday.
    this_week = await (await client.get("/sessions")).text()
    today = datetime.now(TZ).date()
    monday = today - timedelta(days=today.weekday())
    days = re.findall(r'id="day-([0-9-]+)"', this_week)
    assert days[0] == monday.isoformat() and today.isoformat() in days and len(days) == 7
    # A bad day is reported, not a crash.
    bad = await client.get("/sessions?day=31-31-2026&view=month")
    assert bad.status == 200
    assert 'class="field-error"' in await bad.text()


async def test_calendar_strikes_cancelled_sessions(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    starts = local(3, 9, 0)
    _dispute_id, session_id, _page = await booked(
        client, seed, csrf, starts_at=starts.strftime(FORM_TIME)
    )
    await client.post(
        f"/sessions/{session_id}/cancel", data={"csrf_token": csrf, "reason": "双方已和解"}
    )
    page = await (await client.get(f"/sessions?day={starts.date().isoformat()}")).text()
    assert "<del>" in page and "session-cancelled" in page


async def test_calendar_keeps_to_the_office(client: Client, seed: Seed) -> None:
    csrf = await login(client, "officer")
    starts = local(3, 10, 0)
    _dispute_id, session_id, _page = await booked(
        client, seed, csrf, starts_at=starts.strftime(FORM_TIME)
    )
    day = starts.date().isoformat()
    client.session.cookie_jar.clear()
    await login(client, "officer_b")
    page = await (await client.get(f"/sessions?day={day}")).text()
    assert f'href="/sessions/{session_id}"' not in page
    assert 'name="office_id"' not in page  # office roles have no office filter
    page = await (await client.get(f"/sessions?day={day}&office_id={seed.office_a}")).text()
    assert f'href="/sessions/{session_id}"' not in page

    client.session.cookie_jar.clear()
    await login(client, "chief")
    page = await (await client.get(f"/sessions?day={day}")).text()
    assert f'href="/sessions/{session_id}"' in page
    assert 'name="office_id"' in page
    page = await (await client.get(f"/sessions?day={day}&office_id={seed.office_b}")).text()
    assert f'href="/sessions/{session_id}"' not in page
    page = await (await client.get(f"/sessions?day={day}&office_id={seed.office_a}")).text()
    assert f'href="/sessions/{session_id}"' in page

    client.session.cookie_jar.clear()
    await login(client, "admin")
    assert (await client.get("/sessions")).status == 403


async def test_a_child_without_a_guardian_is_explained(client: Client, seed: Seed) -> None:
    client.session.cookie_jar.update_cookies({"concord_lang": "en"})
    csrf = await login(client, "officer")
    parties = [
        {"name": "王丽华", "role": "applicant", "phone": APPLICANT_PHONE},
        {"name": "李小明", "role": "respondent", "id_number": child_id(10)},
    ]
    dispute_id, party_ids = await make_dispute(client, seed, parties=parties)
    status, page = await book(client, dispute_id, book_form(csrf, seed, party_ids))
    assert status == 422
    assert "李小明 is under 16 and takes part through a guardian" in html.unescape(page)
    assert 'id="party_ids-error"' in page
    assert await count(client, Invitation) == 0


async def test_auxiliaries_book_and_see_masked_phones(client: Client, seed: Seed) -> None:
    csrf = await login(client, "auxiliary")
    dispute_id, parties = await make_dispute(client, seed)
    form = book_form(csrf, seed, parties)
    status, page = await book(client, dispute_id, form)
    assert status == 200, page
    assert APPLICANT_PHONE not in page and "138****8001" in page
    assert len(tokens_in(page)) == 2

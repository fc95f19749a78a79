"""Booking rules and invitation links against a real, migrated SQLite database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import select

from server.db import transaction
from server.disputes import service as disputes
from server.disputes.lifecycle import Status
from server.errors import Conflict, IllegalTransition, NotAllowed, NotFound, ValidationFailed
from server.models import AuditEvent, Invitation, MediationSession, utcnow
from server.pii import resident_id_is_valid
from server.sessions import invitations, service
from server.sessions.conflicts import NeedsConfirmation
from server.sessions.invitations import DEFAULT_GRACE, hash_token
from server.sessions.rules import POLICE_CHECKS, SessionStatus
from server.sessions.schemas import CancelInput, ObserverInput, RescheduleInput
from server.sessions.service import Booking
from tests.disputes.conftest import Env
from tests.sessions.helpers import (
    APPLICANT_PHONE,
    add_party,
    booking,
    child_id,
    local,
    new_dispute,
    new_expert,
)

ALL_CHECKS = list(POLICE_CHECKS)


async def dispute(env: Env, username: str = "officer", **kw: Any) -> tuple[int, list[int]]:
    return await new_dispute(env.factory, env.actor(username), vault=env.vault, tz=env.tz, **kw)


async def book(env: Env, dispute_id: int, username: str = "officer", **kw: Any) -> Booking:
    party_ids = kw.pop("party_ids")
    presiding = kw.pop("presiding", env.seed.uid("officer"))
    data = booking(presiding, party_ids, **kw)
    async with transaction(env.factory) as db:
        return await service.book(
            db, env.actor(username), dispute_id, data, vault=env.vault, tz=env.tz
        )


async def open_link(env: Env, token: str, **kw: Any) -> invitations.Door | None:
    async with transaction(env.factory) as db:
        return await invitations.open_link(db, token, ip="10.9.8.7", user_agent="WeChat", **kw)


async def rows(env: Env, model: Any) -> list[Any]:
    async with env.factory() as db:
        return list(await db.exec(select(model)))


# --- legal tracks ------------------------------------------------------------------


async def test_police_track_is_refused_for_a_debt_dispute(env: Env) -> None:
    dispute_id, parties = await dispute(env, category="debt", title="借款纠纷")
    with pytest.raises(ValidationFailed) as caught:
        await book(
            env, dispute_id, party_ids=parties, legal_track="police", police_checks=ALL_CHECKS
        )
    assert caught.value.fields == {"legal_track": "not_eligible"}
    assert await rows(env, MediationSession) == []


async def test_police_track_needs_every_check(env: Env) -> None:
    dispute_id, parties = await dispute(env, category="minor_injury", title="酒后推搡")
    with pytest.raises(ValidationFailed) as caught:
        await book(
            env, dispute_id, party_ids=parties, legal_track="police", police_checks=ALL_CHECKS[1:]
        )
    assert caught.value.fields == {f"police_checks.{ALL_CHECKS[0]}": "missing"}
    done = await book(
        env, dispute_id, party_ids=parties, legal_track="police", police_checks=ALL_CHECKS
    )
    assert done.session.legal_track == "police"
    assert done.session.police_checks_confirmed


async def test_police_mediation_allows_at_most_two_sessions(env: Env) -> None:
    dispute_id, parties = await dispute(env, category="minor_injury", title="酒后推搡")
    police: dict[str, Any] = {"legal_track": "police", "police_checks": ALL_CHECKS}
    first = await book(env, dispute_id, party_ids=parties, starts_at=local(2), **police)
    await book(env, dispute_id, party_ids=parties, starts_at=local(3), **police)
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=parties, starts_at=local(4), **police)
    assert caught.value.fields == {"legal_track": "too_many"}
    # A cancelled one does not count, and people's mediation is always open.
    async with transaction(env.factory) as db:
        assert first.session.id is not None
        await service.cancel(
            db, env.actor("officer"), first.session.id, CancelInput(reason="当事人住院")
        )
    await book(env, dispute_id, party_ids=parties, starts_at=local(4), **police)
    await book(env, dispute_id, party_ids=parties, starts_at=local(5))


# --- who takes part ------------------------------------------------------------------


async def test_a_child_under_16_needs_an_invited_guardian(env: Env) -> None:
    number = child_id(10)
    assert resident_id_is_valid(number)
    parties = [
        {"name": "王丽华", "role": "applicant", "phone": APPLICANT_PHONE},
        {"name": "李小明", "role": "respondent", "id_number": number},
    ]
    dispute_id, (applicant, child) = await dispute(env, parties=parties, title="孩子打碎玻璃")
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=[applicant, child])
    assert caught.value.fields == {"party_ids": "guardian"}
    assert caught.value.params == {"name": "李小明"}

    guardian = await add_party(
        env.factory,
        env.actor("officer"),
        dispute_id,
        vault=env.vault,
        name="李建国",
        role="guardian",
        represents_party_id=child,
        phone="13700137003",
    )
    # Present in the dispute is not enough: the guardian must be invited too.
    with pytest.raises(ValidationFailed):
        await book(env, dispute_id, party_ids=[applicant, child])
    done = await book(env, dispute_id, party_ids=[applicant, child, guardian])
    assert sorted(i.invitation.role for i in done.issued) == ["guardian", "party", "party"]


async def test_someone_must_be_a_party(env: Env) -> None:
    dispute_id, _parties = await dispute(env)
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=[])
    assert caught.value.fields == {"party_ids": "missing"}


async def test_a_busy_expert_needs_confirmation(env: Env) -> None:
    lawyer = await new_expert(env.factory, env.actor("officer"), "陈律师", "13600136000")
    first_id, first_parties = await dispute(env)
    second_id, second_parties = await dispute(env, title="漏水纠纷")
    await book(env, first_id, party_ids=first_parties, expert_ids=[lawyer], starts_at=local(2, 10))
    # Overlapping by half an hour, with the chief presiding (so only the expert clashes).
    overlapping: dict[str, Any] = {
        "party_ids": second_parties,
        "expert_ids": [lawyer],
        "starts_at": local(2, 10, 30),
        "presiding": env.seed.uid("chief"),
    }
    with pytest.raises(NeedsConfirmation) as caught:
        await book(env, second_id, **overlapping)
    assert [w.message for w in caught.value.warnings] == [
        "%(name)s is already booked for another session at this time."
    ]
    assert caught.value.warnings[0].params == {"name": "陈律师"}
    assert len(await rows(env, MediationSession)) == 1

    done = await book(env, second_id, confirm_conflicts=True, **overlapping)
    assert len(done.warnings) == 1
    assert len(await rows(env, MediationSession)) == 2


async def test_an_expert_with_a_partys_phone_is_flagged(env: Env) -> None:
    suspicious = await new_expert(env.factory, env.actor("officer"), "王律师", APPLICANT_PHONE)
    dispute_id, parties = await dispute(env)
    with pytest.raises(NeedsConfirmation) as caught:
        await book(env, dispute_id, party_ids=parties, expert_ids=[suspicious])
    assert [w.params for w in caught.value.warnings] == [{"name": "王律师"}]
    assert "looks like a party" in caught.value.warnings[0].message


async def test_the_presiding_officer_must_belong_to_the_office(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=parties, presiding=env.seed.uid("officer_b"))
    assert caught.value.fields == {"presiding_officer_id": "invalid"}
    for not_an_officer in ("auxiliary", "clerk", "officer_c"):
        with pytest.raises(ValidationFailed):
            await book(env, dispute_id, party_ids=parties, presiding=env.seed.uid(not_an_officer))
    chief = await book(env, dispute_id, party_ids=parties, presiding=env.seed.uid("chief"))
    assert chief.session.presiding_officer_id == env.seed.uid("chief")


async def test_an_untriaged_dispute_cannot_be_booked(env: Env) -> None:
    dispute_id, parties = await dispute(env, triaged=False)
    with pytest.raises(IllegalTransition):
        await book(env, dispute_id, party_ids=parties)


async def test_a_session_cannot_start_in_the_past(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=parties, starts_at=local(-1))
    assert caught.value.fields == {"starts_at": "past"}
    with pytest.raises(ValidationFailed) as caught:
        await book(env, dispute_id, party_ids=parties, starts_at=local(400))
    assert caught.value.fields == {"starts_at": "far"}


async def test_clerks_and_other_offices_cannot_book(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    with pytest.raises(NotAllowed):
        await book(env, dispute_id, "clerk", party_ids=parties)
    with pytest.raises(NotAllowed):
        await book(env, dispute_id, "officer_b", party_ids=parties)
    with pytest.raises(NotFound):
        await book(env, dispute_id, "outsider", party_ids=parties)
    # An auxiliary of the office may book.
    await book(env, dispute_id, "auxiliary", party_ids=parties)


async def test_booking_moves_a_triaged_dispute_into_mediation(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    async with env.factory() as db:
        found = await disputes.get_dispute(db, env.actor("officer"), dispute_id)
        timeline = [e.kind for e in await disputes.timeline_of(db, dispute_id)]
    assert found.status == Status.IN_MEDIATION
    assert timeline[-2:] == ["status_changed", "session_booked"]
    # A second session leaves the status alone.
    await book(env, dispute_id, party_ids=parties, starts_at=local(5))
    assert done.session.status == SessionStatus.SCHEDULED


async def test_booking_issues_one_invitation_per_invitee(env: Env) -> None:
    lawyer = await new_expert(env.factory, env.actor("officer"), "陈律师", "13600136000")
    dispute_id, parties = await dispute(env)
    done = await book(
        env,
        dispute_id,
        party_ids=parties,
        expert_ids=[lawyer],
        observers=[ObserverInput(name="社区网格员", phone="137-0013-7000")],
        note="请带上物业记录",
    )
    roles = sorted(i.invitation.role for i in done.issued)
    assert roles == ["expert", "observer", "party", "party"]
    observer = next(i.invitation for i in done.issued if i.invitation.role == "observer")
    assert observer.phone == "13700137000"
    assert all(i.invitation.expires_at == done.session.ends_at + DEFAULT_GRACE for i in done.issued)
    actions = [a.action for a in await rows(env, AuditEvent)]
    assert actions.count("invitation.issue") == 4
    assert "session.book" in actions


# --- tokens --------------------------------------------------------------------------


async def test_tokens_are_long_and_only_their_hash_is_stored(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    tokens = [i.token for i in done.issued]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes: 256 bits
    async with env.factory() as db:
        dump = [
            " ".join(str(v) for v in row)
            for row in (await db.exec(text("SELECT * FROM invitation"))).all()  # type: ignore[call-overload]
        ]
    assert len(dump) == 2
    for token in tokens:
        assert not any(token in line for line in dump)
        assert any(hash_token(token) in line for line in dump)


async def test_a_valid_link_opens_and_is_counted_and_audited(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    token = done.issued[0].token
    door = await open_link(env, token)
    assert door is not None
    assert door.dispute.id == dispute_id
    assert door.invitation.display_name == "王丽华"
    again = await open_link(env, token)
    assert again is not None and again.invitation.open_count == 2
    assert again.invitation.first_opened_at is not None
    assert again.invitation.last_opened_at is not None
    audits = [a for a in await rows(env, AuditEvent) if a.action == "invitation.open"]
    assert len(audits) == 2
    assert audits[0].actor_id is None
    assert audits[0].ip == "10.9.8.7"
    assert audits[0].station_id == env.seed.station_id


async def test_expired_revoked_unknown_and_cancelled_links_do_not_open(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    first, second = done.issued
    expiry = first.invitation.expires_at
    assert await open_link(env, first.token, now=expiry - timedelta(seconds=1)) is not None
    assert await open_link(env, first.token, now=expiry + timedelta(seconds=1)) is None

    assert await open_link(env, "never-issued-" + "x" * 40) is None
    assert await open_link(env, "") is None
    assert await open_link(env, "y" * 500) is None

    assert second.invitation.id is not None
    async with transaction(env.factory) as db:
        await invitations.revoke(db, env.actor("officer"), second.invitation.id, "发错人了")
    assert await open_link(env, second.token) is None

    assert done.session.id is not None
    async with transaction(env.factory) as db:
        await service.cancel(
            db, env.actor("officer"), done.session.id, CancelInput(reason="双方已和解")
        )
    assert await open_link(env, first.token) is None


async def test_reissue_replaces_the_token(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    old = done.issued[0]
    assert old.invitation.id is not None
    async with transaction(env.factory) as db:
        new = await invitations.reissue(db, env.actor("officer"), old.invitation.id)
    assert new.token != old.token
    assert new.invitation.issue_count == 2
    assert await open_link(env, old.token) is None
    assert await open_link(env, new.token) is not None
    # Reissuing a revoked link reinstates the invitee with a fresh link.
    async with transaction(env.factory) as db:
        await invitations.revoke(db, env.actor("officer"), old.invitation.id, "手机丢失")
        newer = await invitations.reissue(db, env.actor("officer"), old.invitation.id)
    assert await open_link(env, new.token) is None
    assert await open_link(env, newer.token) is not None


async def test_a_cancelled_sessions_links_cannot_be_reissued(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    assert done.session.id is not None and done.issued[0].invitation.id is not None
    async with transaction(env.factory) as db:
        cancelled = await service.cancel(
            db, env.actor("officer"), done.session.id, CancelInput(reason="双方已和解")
        )
    assert cancelled.status == SessionStatus.CANCELLED
    async with env.factory() as db:
        current = await invitations.session_invitations(db, done.session.id)
    assert all(i.revoked_reason == "session cancelled" for i in current)
    with pytest.raises(Conflict):
        async with transaction(env.factory) as db:
            await invitations.reissue(db, env.actor("officer"), done.issued[0].invitation.id)
    with pytest.raises(IllegalTransition):
        async with transaction(env.factory) as db:
            await service.cancel(
                db, env.actor("officer"), done.session.id, CancelInput(reason="再次取消")
            )


async def test_reschedule_moves_the_expiry_of_every_link(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties, starts_at=local(2))
    assert done.session.id is not None
    async with transaction(env.factory) as db:
        moved, warnings = await service.reschedule(
            db,
            env.actor("officer"),
            done.session.id,
            RescheduleInput(starts_at=local(6, 15), duration_minutes=90),
            tz=env.tz,
        )
    assert warnings == []
    assert moved.duration_minutes == 90
    assert moved.ends_at - moved.starts_at == timedelta(minutes=90)
    async with env.factory() as db:
        current = await invitations.session_invitations(db, done.session.id)
    assert {i.expires_at for i in current} == {moved.ends_at + DEFAULT_GRACE}
    # The old links still work, now until the new end.
    door = await open_link(env, done.issued[0].token, now=moved.ends_at)
    assert door is not None


async def test_invite_more_refuses_someone_already_invited(env: Env) -> None:
    lawyer = await new_expert(env.factory, env.actor("officer"), "陈律师", "13600136000")
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties[:1])
    assert done.session.id is not None
    async with transaction(env.factory) as db:
        issued = await service.invite_more(
            db,
            env.actor("officer"),
            done.session.id,
            party_ids=parties[1:],
            expert_ids=[lawyer],
            observers=[],
            vault=env.vault,
            tz=env.tz,
        )
    assert [i.invitation.role for i in issued] == ["party", "expert"]
    with pytest.raises(Conflict):
        async with transaction(env.factory) as db:
            await service.invite_more(
                db,
                env.actor("officer"),
                done.session.id,
                party_ids=[],
                expert_ids=[lawyer],
                observers=[],
                vault=env.vault,
                tz=env.tz,
            )
    assert len(await rows(env, Invitation)) == 3


async def test_the_calendar_keeps_to_the_office(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties, starts_at=local(2))
    start = done.session.starts_at.astimezone(env.tz).date()
    async with env.factory() as db:
        mine = await service.sessions_between(db, env.actor("officer"), start, 1, tz=env.tz)
        theirs = await service.sessions_between(db, env.actor("officer_b"), start, 7, tz=env.tz)
        chief_b = await service.sessions_between(
            db, env.actor("chief"), start, 1, tz=env.tz, office_id=env.seed.office_b
        )
        chief_all = await service.sessions_between(db, env.actor("chief"), start, 1, tz=env.tz)
    assert [s.id for s, _d in mine] == [done.session.id]
    assert theirs == [] and chief_b == []
    assert len(chief_all) == 1
    assert utcnow() < done.session.starts_at


# --- invitations belong to the office that booked them ------------------------------


async def test_only_the_booking_office_manages_its_invitations(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    invitation_id = done.issued[0].invitation.id
    assert invitation_id is not None
    for username in ("officer_b", "clerk"):
        with pytest.raises(NotAllowed):
            async with transaction(env.factory) as db:
                await invitations.reissue(db, env.actor(username), invitation_id)
        with pytest.raises(NotAllowed):
            async with transaction(env.factory) as db:
                await invitations.revoke(db, env.actor(username), invitation_id, "越权")
    assert await open_link(env, done.issued[0].token) is not None


async def test_one_person_never_holds_two_live_links(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    done = await book(env, dispute_id, party_ids=parties)
    first = done.issued[0].invitation
    assert first.id is not None and done.session.id is not None
    officer = env.actor("officer")
    async with transaction(env.factory) as db:
        await invitations.revoke(db, officer, first.id, "手机丢失")
        await service.invite_more(
            db,
            officer,
            done.session.id,
            party_ids=[parties[0]],
            expert_ids=[],
            observers=[],
            vault=env.vault,
            tz=env.tz,
        )
    with pytest.raises(Conflict):
        async with transaction(env.factory) as db:
            await invitations.reissue(db, officer, first.id)


async def test_booking_again_after_no_agreement_resumes_mediation(env: Env) -> None:
    dispute_id, parties = await dispute(env)
    await book(env, dispute_id, party_ids=parties)
    async with transaction(env.factory) as db:
        await disputes.transition_internal(
            db,
            env.actor("officer"),
            await disputes.get_dispute(db, env.actor("officer"), dispute_id),
            Status.NO_AGREEMENT,
            "分歧较大",
        )
    await book(env, dispute_id, party_ids=parties, starts_at=local(3), confirm_conflicts=True)
    async with env.factory() as db:
        row = await disputes.get_dispute(db, env.actor("officer"), dispute_id)
    assert row.status == Status.IN_MEDIATION


async def test_an_expert_with_a_partys_phone_is_flagged_however_it_was_typed(env: Env) -> None:
    parties = [
        {"name": "王丽华", "role": "applicant", "phone": "138-0013-8001"},
        {"name": "张国强", "role": "respondent"},
    ]
    dispute_id, party_ids = await dispute(env, parties=parties)
    expert = await new_expert(env.factory, env.actor("officer"), "王律师", "13800138001")
    with pytest.raises(NeedsConfirmation):
        await book(env, dispute_id, party_ids=party_ids, expert_ids=[expert])


async def test_unknown_police_checks_are_refused(env: Env) -> None:
    dispute_id, parties = await dispute(env, category="minor_injury", title="酒后推搡")
    with pytest.raises(ValidationError) as caught:
        await book(
            env,
            dispute_id,
            party_ids=parties,
            legal_track="police",
            police_checks=[*ALL_CHECKS, "made_up"],
        )
    assert caught.value.errors()[0]["loc"] == ("police_checks",)

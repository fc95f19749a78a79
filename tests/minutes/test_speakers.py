"""Who may be named as a speaker: the session's invitees and its staff in the room."""

from __future__ import annotations

from server.db import SessionFactory, transaction
from server.minutes.speakers import speaker_of, speakers_of
from server.models import MediationSession, RoomEntry, utcnow
from server.rooms.roles import RoomRole
from tests.conftest import Seed
from tests.http.test_door import APPLICANT, EXPERTS, RESPONDENT, Booked


async def _speakers(factory: SessionFactory, session_id: int) -> dict[str, tuple[str, RoomRole]]:
    async with factory() as db:
        session = await db.get(MediationSession, session_id)
        assert session is not None
        return {s.key: (s.name, s.role) for s in await speakers_of(db, session)}


async def test_invitees_and_the_presiding_officer_are_speakers(
    factory: SessionFactory, seed: Seed, booked: Booked
) -> None:
    found = await _speakers(factory, booked.session_id)
    ids = booked.invitation_ids
    assert found[f"staff-{seed.uid('officer')}"] == ("测试officer", RoomRole.HOST)
    assert found[f"inv-{ids['applicant']}"] == (APPLICANT, RoomRole.PARTY)
    assert found[f"inv-{ids['respondent']}"] == (RESPONDENT, RoomRole.PARTY)
    for key, (name, _kind, _phone) in EXPERTS.items():
        assert found[f"inv-{ids[key]}"] == (name, RoomRole.EXPERT)
    # Invited staff co-host; an observer watches and is not heard in the record.
    assert found[f"inv-{ids['staff']}"][1] == RoomRole.COHOST
    assert f"inv-{ids['observer']}" not in found
    assert list(found)[0] == f"staff-{seed.uid('officer')}", "the presiding officer first"


async def test_staff_who_entered_the_room_become_speakers(
    factory: SessionFactory, seed: Seed, booked: Booked
) -> None:
    clerk = f"staff-{seed.uid('clerk')}"
    assert clerk not in await _speakers(factory, booked.session_id)
    async with transaction(factory) as db:
        db.add(
            RoomEntry(
                session_id=booked.session_id,
                participant_key=clerk,
                name="测试clerk",
                role="observer",
                admission="admitted",
                updated_at=utcnow(),
            )
        )
        # An invitee's room entry does not make a second speaker of them.
        db.add(
            RoomEntry(
                session_id=booked.session_id,
                participant_key=f"inv-{booked.invitation_ids['applicant']}",
                name="别名",
                role="party",
                admission="admitted",
            )
        )
    found = await _speakers(factory, booked.session_id)
    assert found[clerk] == ("测试clerk", RoomRole.OBSERVER)
    assert found[f"inv-{booked.invitation_ids['applicant']}"][0] == APPLICANT


async def test_someone_of_another_session_is_no_speaker(
    factory: SessionFactory, booked: Booked
) -> None:
    async with factory() as db:
        session = await db.get(MediationSession, booked.session_id)
        assert session is not None
        assert await speaker_of(db, session, "inv-999999") is None
        assert await speaker_of(db, session, "staff-999999") is None
        assert await speaker_of(db, session, "") is None

"""Drafting, freezing and signing against a real, migrated SQLite database (no HTTP)."""

from __future__ import annotations

import hashlib
import io
import json
import random
from datetime import timedelta

import pytest
from PIL import Image
from sqlmodel import col, select

from server.agreements import service, signing
from server.agreements.rules import DraftStatus, Outcome, SignerKind, Via, text_sha256
from server.agreements.schemas import MAX_TERMS, DraftEdit, RefuseInput
from server.db import transaction
from server.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from server.models import (
    AgreementDraft,
    AuditEvent,
    DraftRevision,
    MediationSession,
    Signature,
    Signer,
)
from server.sessions.invitations import hash_token
from server.sessions.schemas import CancelInput
from server.sessions.service import cancel
from tests.agreements.helpers import (
    AGENT,
    APPLICANT,
    DESCRIPTION,
    IP,
    RESPONDENT,
    USER_AGENT,
    all_rows,
    book_session,
    complete_content,
    current_draft,
    data_url,
    door_of,
    freeze,
    frozen_draft,
    link_of,
    open_draft,
    parties,
    png_bytes,
    save,
    sign_as,
    sign_input,
    unfreeze,
)
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.sessions.helpers import child_id

PRESIDING_NAME = "测试officer"


async def revisions(env: Env, draft_id: int) -> list[DraftRevision]:
    async with env.factory() as db:
        return await service.revisions_of(db, draft_id)


async def states(env: Env, draft_id: int) -> dict[str, signing.SignerState]:
    async with env.factory() as db:
        draft = await db.get(AgreementDraft, draft_id)
        assert draft is not None
        return {s.signer.name: s for s in await signing.signer_states(db, draft)}


async def audits(env: Env, action: str) -> list[AuditEvent]:
    async with env.factory() as db:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list(await db.exec(query.order_by(col(AuditEvent.id))))


async def refuse_as(env: Env, token: str, text_hash: str, reason: str) -> Signature:
    async with transaction(env.factory) as db:
        door = await signing.signer_by_token(db, token)
        assert door is not None
        return await signing.refuse(
            db,
            door,
            RefuseInput(text_sha256=text_hash, reason=reason),
            ip=IP,
            user_agent=USER_AGENT,
        )


def draft_id_of(draft: AgreementDraft) -> int:
    assert draft.id is not None
    return draft.id


# --- opening a draft -----------------------------------------------------------------------


async def test_open_draft_starts_once_with_the_facts_from_the_register(env: Env) -> None:
    booked = await book_session(env)
    first = await open_draft(env, booked.session_id)
    again = await open_draft(env, booked.session_id)
    assert first.id is not None and again.id == first.id
    assert (first.dispute_id, first.office_id) == (booked.dispute_id, env.seed.office_a)
    assert first.status == DraftStatus.DRAFTING and first.legal_track == "people"
    assert first.version == 1
    content = json.loads(first.content)
    assert content["facts"] == DESCRIPTION
    assert content["terms"] == [] and content["performance_deadline"] is None
    assert len(await all_rows(env, AgreementDraft)) == 1
    history = await revisions(env, first.id)
    assert [(r.number, r.kind) for r in history] == [(1, "saved")]
    assert history[0].author_staff_id == env.seed.uid("officer")
    assert len(await audits(env, "agreement.draft_start")) == 1


async def test_without_a_description_the_cause_is_the_facts(env: Env) -> None:
    booked = await book_session(env, description="")
    draft = await open_draft(env, booked.session_id)
    assert json.loads(draft.content)["facts"] == "犬只夜间吠叫，双方发生推搡"


async def test_who_may_draft(env: Env) -> None:
    booked = await book_session(env)
    for username in ("admin", "officer_b"):
        with pytest.raises(NotAllowed):
            await open_draft(env, booked.session_id, username)
    with pytest.raises(NotFound):
        await open_draft(env, booked.session_id, "outsider")
    assert await all_rows(env, AgreementDraft) == []
    # The clerk who keeps the minutes drafts, and so does the office's auxiliary.
    draft = await open_draft(env, booked.session_id, "clerk")
    draft_id = draft_id_of(draft)
    saved = await save(env, draft_id, 1, complete_content(), "clerk")
    saved = await save(env, draft_id, saved.version, complete_content(), "auxiliary")
    assert saved.version == 3
    for username in ("admin", "officer_b"):
        with pytest.raises(NotAllowed):
            await save(env, draft_id, saved.version, complete_content(), username)
    with pytest.raises(NotFound):
        await save(env, draft_id, saved.version, complete_content(), "outsider")
    assert (await current_draft(env, draft_id)).version == 3


async def test_a_cancelled_session_gets_no_agreement(env: Env) -> None:
    booked = await book_session(env)
    async with transaction(env.factory) as db:
        await cancel(db, env.actor("officer"), booked.session_id, CancelInput(reason="双方已和解"))
    with pytest.raises(Conflict):
        await open_draft(env, booked.session_id)


# --- saving --------------------------------------------------------------------------------


async def test_every_save_is_a_numbered_revision(env: Env) -> None:
    booked = await book_session(env)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    first = complete_content()
    second = complete_content(terms=("被申请人赔偿医药费人民币600元。",))
    saved = await save(env, draft_id, 1, first)
    saved = await save(env, draft_id, saved.version, second, "clerk")
    assert saved.version == 3
    history = await revisions(env, draft_id)
    assert [(r.number, r.kind) for r in history] == [(3, "saved"), (2, "saved"), (1, "saved")]
    assert json.loads(history[0].content)["terms"] == ["被申请人赔偿医药费人民币600元。"]
    assert json.loads(history[1].content)["terms"] == list(first.terms)
    assert history[0].author_staff_id == env.seed.uid("clerk")
    current = await current_draft(env, draft_id)
    assert current.content == second.model_dump_json()
    assert current.updated_by == env.actor("clerk").label
    saves = await audits(env, "agreement.draft_save")
    assert [json.loads(e.detail) for e in saves] == [{"version": 2}, {"version": 3}]
    assert [e.actor_id for e in saves] == [env.seed.uid("officer"), env.seed.uid("clerk")]


async def test_a_save_on_a_stale_version_is_a_conflict(env: Env) -> None:
    booked = await book_session(env)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    await save(env, draft_id, 1, complete_content())
    with pytest.raises(Conflict):
        await save(env, draft_id, 1, complete_content(facts="另一种说法"))
    current = await current_draft(env, draft_id)
    assert current.version == 2
    assert json.loads(current.content)["facts"] == DESCRIPTION
    assert len(await revisions(env, draft_id)) == 2


async def test_a_concurrent_save_loses_the_claim(env: Env) -> None:
    """Two drafters load version 1; the second to write is refused by the database itself."""
    booked = await book_session(env)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    slow = env.factory()
    try:
        loaded = await service.get_draft(slow, env.actor("clerk"), draft_id)
        assert loaded.draft.version == 1
        await save(env, draft_id, 1, complete_content())  # the quick one commits first
        with pytest.raises(Conflict):
            await service.save(
                slow,
                env.actor("clerk"),
                draft_id,
                DraftEdit(base_version=1, content=complete_content(facts="后来者的版本")),
            )
        await slow.rollback()
    finally:
        await slow.close()
    current = await current_draft(env, draft_id)
    assert current.version == 2
    assert json.loads(current.content)["facts"] == DESCRIPTION
    assert [r.number for r in await revisions(env, draft_id)] == [2, 1]


# --- freezing ------------------------------------------------------------------------------


async def test_freezing_an_incomplete_draft_names_the_missing_fields(env: Env) -> None:
    booked = await book_session(env)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    saved = await save(env, draft_id, 1, complete_content(performance_deadline=None))
    with pytest.raises(service.DraftIncomplete) as caught:
        await freeze(env, draft_id, saved.version)
    assert isinstance(caught.value, ValidationFailed)
    assert set(caught.value.fields) == {"performance_deadline"}
    assert caught.value.message == "Set the deadline for performance."
    # Straight after opening, only the facts are there.
    other = await book_session(env, days=4)
    other_id = draft_id_of(await open_draft(env, other.session_id))
    with pytest.raises(service.DraftIncomplete) as caught:
        await freeze(env, other_id, 1)
    assert set(caught.value.fields) == {
        "disputed_matters",
        "responsibility",
        "terms",
        "performance_manner",
        "performance_deadline",
    }
    current = await current_draft(env, draft_id)
    assert (current.status, current.version, current.frozen_sha256) == ("drafting", 2, "")
    assert await all_rows(env, Signer) == []


async def test_freezing_on_a_stale_version_is_a_conflict(env: Env) -> None:
    booked = await book_session(env)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    await save(env, draft_id, 1, complete_content())
    with pytest.raises(Conflict):
        await freeze(env, draft_id, 1)
    assert (await current_draft(env, draft_id)).status == DraftStatus.DRAFTING


async def test_freezing_fixes_the_text_and_makes_the_signers(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    current = await current_draft(env, draft_id)
    assert current.status == DraftStatus.FROZEN
    assert current.version == 3 and current.frozen_version == 3
    assert current.frozen_sha256 == text_sha256(current.frozen_text)
    assert current.frozen_by_id == env.seed.uid("officer") and current.frozen_at is not None
    text = current.frozen_text
    assert text.startswith("人民调解协议书\n")
    for name in (APPLICANT, RESPONDENT, PRESIDING_NAME):
        assert name in text
    assert "履行期限：" in text and "司法确认" in text
    # The frozen text is what the working copy renders to now.
    async with env.factory() as db:
        ctx = await service.get_draft(db, env.actor("officer"), draft_id)
        assert service.working_text(ctx, env.vault, env.tz) == text

    signers = await all_rows(env, Signer)
    assert [(s.kind, s.role, s.name, s.position) for s in signers] == [
        (SignerKind.PARTY, "applicant", APPLICANT, 0),
        (SignerKind.PARTY, "respondent", RESPONDENT, 1),
        (SignerKind.PRESIDING, "presiding", PRESIDING_NAME, 2),
    ]
    assert signers[0].party_id == booked.applicant_id
    assert signers[1].principal_party_id == booked.respondent_id
    assert signers[2].staff_id == booked.presiding_id
    assert all(s.active for s in signers)

    assert sorted(link.signer.name for link in issued) == sorted(s.name for s in signers)
    for link in issued:
        assert len(link.token) >= 43
        assert link.signer.token_hash == hash_token(link.token)
        assert link.token not in {s.token_hash for s in signers}
        door = await door_of(env, link.token)
        assert door.signer.id == link.signer.id
        assert door.draft.id == draft_id and door.via == Via.SIGNING_LINK

    history = await revisions(env, draft_id)
    assert (history[0].number, history[0].kind) == (3, "frozen")
    assert history[0].text_sha256 == current.frozen_sha256
    freezes = await audits(env, "agreement.freeze")
    assert len(freezes) == 1 and current.frozen_sha256 in freezes[0].detail


async def test_wrong_and_expired_signing_links_do_not_open(env: Env) -> None:
    booked = await book_session(env)
    _draft, issued = await frozen_draft(env, booked)
    link = link_of(issued, APPLICANT)
    expires = link.signer.expires_at
    async with env.factory() as db:
        other_last = "B" if link.token.endswith("A") else "A"  # one character off
        assert await signing.signer_by_token(db, link.token[:-1] + other_last) is None
        assert await signing.signer_by_token(db, link.token + "x") is None
        assert await signing.signer_by_token(db, "") is None
        assert await signing.signer_by_token(db, "z" * 200) is None
        just_before = await signing.signer_by_token(
            db, link.token, now=expires - timedelta(seconds=1)
        )
        assert just_before is not None
        assert await signing.signer_by_token(db, link.token, now=expires) is None
    session = (await all_rows(env, MediationSession))[0]
    assert expires == session.ends_at + timedelta(days=env.config.agreement_link_days)


async def test_a_frozen_text_cannot_be_edited_or_frozen_again(env: Env) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    with pytest.raises(Conflict):
        await save(env, draft_id, draft.version, complete_content(facts="改一个字"))
    with pytest.raises(Conflict):
        await freeze(env, draft_id, draft.version)
    current = await current_draft(env, draft_id)
    assert current.version == draft.version and current.frozen_text == draft.frozen_text
    assert len(await all_rows(env, Signer)) == 3


def _noise(rng: random.Random, n: int) -> str:
    """``n`` random CJK characters: text that zlib cannot make much shorter. Up to
    U+9FEF: the fonts draw none of the newest 16, and freezing refuses what the paper
    cannot print (server/agreements/glyphs.py)."""
    return "".join(chr(rng.randrange(0x4E00, 0x9FF0)) for _ in range(n))


async def test_the_longest_draft_the_fields_allow_freezes_even_if_incompressible(
    env: Env,
) -> None:
    """Its encrypted form is about four times 60,000 characters: the old column's bound
    refused it by an accident of compression. Only the plain text is bounded now."""
    rng = random.Random(7)
    content = complete_content(
        facts=_noise(rng, 4000),
        disputed_matters=_noise(rng, 4000),
        responsibility=_noise(rng, 4000),
        terms=tuple(_noise(rng, 1000) for _ in range(MAX_TERMS)),
        performance_manner=_noise(rng, 500),
        others_present=_noise(rng, 500),
    )
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked, content)
    current = await current_draft(env, draft_id_of(draft))
    assert current.status == DraftStatus.FROZEN
    assert content.terms[-1] in current.frozen_text
    assert len(current.frozen_text) <= service.MAX_FROZEN_TEXT_CHARS
    assert current.frozen_sha256 == text_sha256(current.frozen_text)


async def test_a_text_over_the_product_limit_is_refused_and_stays_a_draft(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    booked = await book_session(env)
    draft = await open_draft(env, booked.session_id)
    saved = await save(env, draft_id_of(draft), draft.version, complete_content())
    monkeypatch.setattr(service, "MAX_FROZEN_TEXT_CHARS", 200)
    with pytest.raises(ValidationFailed, match="too long to be kept"):
        await freeze(env, draft_id_of(saved), saved.version)
    current = await current_draft(env, draft_id_of(saved))
    assert current.status == DraftStatus.DRAFTING and current.frozen_text == ""


async def test_the_police_track_freezes_its_own_form(env: Env) -> None:
    booked = await book_session(env, track="police")
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    police = complete_content(disputed_matters="", responsibility="", copies=2)
    saved = await save(env, draft_id, 1, police)
    with pytest.raises(service.DraftIncomplete) as caught:
        await freeze(env, draft_id, saved.version)
    assert caught.value.fields == {"copies": "This agreement needs at least 3 copies."}
    saved = await save(env, draft_id, saved.version, police.model_copy(update={"copies": 3}))
    frozen, issued = await freeze(env, draft_id, saved.version)
    assert frozen.frozen_text.startswith("治安调解协议书\n")
    assert "调解机关：白石派出所" in frozen.frozen_text
    assert f"主持人：{PRESIDING_NAME}" in frozen.frozen_text
    assert "一式三份" in frozen.frozen_text
    assert len(issued) == 3


async def test_an_invited_agent_signs_for_a_party_who_was_not(env: Env) -> None:
    booked = await book_session(env, agent_for_respondent=True, invite=[APPLICANT, AGENT])
    _draft, issued = await frozen_draft(env, booked)
    assert [link.signer.name for link in issued] == [APPLICANT, AGENT, PRESIDING_NAME]
    agent = link_of(issued, AGENT).signer
    assert (agent.role, agent.party_id) == ("agent", booked.party_ids[AGENT])
    assert agent.principal_party_id == booked.respondent_id
    async with env.factory() as db:
        door = await signing.signer_for_invitation(db, booked.invitation_of(AGENT).invitation)
    assert door is not None and door.signer.id == agent.id and door.via == Via.INVITATION


async def test_a_minor_without_a_guardian_cannot_be_frozen(env: Env) -> None:
    # Seventeen: old enough to take part alone, too young to sign alone.
    people = parties(name="李小明", id_number=child_id(17))
    booked = await book_session(env, people=people)
    draft_id = draft_id_of(await open_draft(env, booked.session_id))
    saved = await save(env, draft_id, 1, complete_content())
    with pytest.raises(service.DraftIncomplete) as caught:
        await freeze(env, draft_id, saved.version)
    assert caught.value.fields == {
        "signers": "李小明 is a minor and has no guardian to sign for them."
    }
    assert caught.value.params == {"name": "李小明"}


# --- signing -------------------------------------------------------------------------------


async def test_a_signature_binds_to_the_frozen_hash_with_evidence(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    link = link_of(issued, APPLICANT)
    signature = await sign_as(env, link.token, draft.frozen_sha256)
    assert signature.outcome == Outcome.SIGNED
    assert (signature.signer_id, signature.draft_id) == (link.signer.id, draft_id)
    assert signature.text_sha256 == draft.frozen_sha256
    assert signature.version == draft.frozen_version == 3
    assert (signature.ip, signature.user_agent, signature.via) == (IP, USER_AGENT, "signing_link")
    assert signature.image_png is not None
    assert signature.image_sha256 == hashlib.sha256(signature.image_png).hexdigest()
    with Image.open(io.BytesIO(signature.image_png)) as image:
        assert image.format == "PNG" and image.size == (240, 80)
        assert image.getchannel("A").getbbox() is not None
        assert not image.info  # re-encoded: no metadata carried over

    now = await states(env, draft_id)
    assert now[APPLICANT].signed and not now[APPLICANT].refused
    assert now[RESPONDENT].answer is None and not now[RESPONDENT].signed
    assert now[PRESIDING_NAME].answer is None


async def test_unfreezing_voids_every_earlier_signature(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    first_hash = draft.frozen_sha256
    applicant = link_of(issued, APPLICANT)
    await sign_as(env, applicant.token, first_hash)
    assert (await states(env, draft_id))[APPLICANT].signed

    drafting = await unfreeze(env, draft_id, draft.version)
    assert drafting.status == DraftStatus.DRAFTING
    saved = await save(
        env, draft_id, drafting.version, complete_content(terms=("被申请人赔偿600元。",))
    )
    second, reissued = await freeze(env, draft_id, saved.version)
    assert second.frozen_version == 6 and second.frozen_sha256 != first_hash
    # The same people sign, with the links they already have.
    assert reissued == []
    assert (await door_of(env, applicant.token)).signer.id == applicant.signer.id

    after = await states(env, draft_id)
    assert not after[APPLICANT].signed and after[APPLICANT].answer is None
    assert not any(state.signed for state in after.values())

    with pytest.raises(Conflict) as caught:
        await sign_as(env, applicant.token, first_hash)
    assert "superseded" in caught.value.message
    with pytest.raises(Conflict):
        await refuse_as(env, applicant.token, first_hash, "没看过新版本")

    again = await sign_as(env, applicant.token, second.frozen_sha256)
    assert again.version == 6
    assert (await states(env, draft_id))[APPLICANT].signed
    answers = await all_rows(env, Signature)
    assert sorted((a.version, a.text_sha256) for a in answers) == sorted(
        [(3, first_hash), (6, second.frozen_sha256)]
    )
    kinds = [(r.number, r.kind) for r in await revisions(env, draft_id)]
    assert kinds[:4] == [(6, "frozen"), (5, "saved"), (4, "unfrozen"), (3, "frozen")]


async def test_only_an_answer_naming_the_frozen_hash_counts(env: Env) -> None:
    """An answer row for the right version but another text (say, edited in the database)."""
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    signer = link_of(issued, APPLICANT).signer
    assert signer.id is not None and draft.frozen_version is not None
    async with transaction(env.factory) as db:
        db.add(
            Signature(
                signer_id=signer.id,
                draft_id=draft_id,
                version=draft.frozen_version,
                text_sha256=text_sha256("别的文本"),
                outcome=Outcome.SIGNED,
                via=Via.SIGNING_LINK,
            )
        )
    assert (await states(env, draft_id))[APPLICANT].answer is None


async def test_refreezing_the_same_text_still_asks_for_new_signatures(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    await sign_as(env, link_of(issued, APPLICANT).token, draft.frozen_sha256)
    drafting = await unfreeze(env, draft_id, draft.version)
    second, _ = await freeze(env, draft_id, drafting.version)
    assert second.frozen_sha256 == draft.frozen_sha256
    assert second.frozen_version == draft.version + 2
    assert not (await states(env, draft_id))[APPLICANT].signed


async def test_a_signer_answers_once_per_version(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    token = link_of(issued, RESPONDENT).token
    await sign_as(env, token, draft.frozen_sha256)
    with pytest.raises(Conflict) as caught:
        await sign_as(env, token, draft.frozen_sha256)
    assert caught.value.message == "You have already answered for this version."
    with pytest.raises(Conflict):
        await refuse_as(env, token, draft.frozen_sha256, "反悔了")
    assert len(await all_rows(env, Signature)) == 1


async def test_signing_needs_the_agree_tick(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    with pytest.raises(ValidationFailed) as caught:
        await sign_as(env, link_of(issued, APPLICANT).token, draft.frozen_sha256, agree=False)
    assert caught.value.fields == {"agree": "required"}
    assert await all_rows(env, Signature) == []
    assert await audits(env, "agreement.sign") == []


@pytest.mark.parametrize(
    ("image", "why"),
    [
        (data_url(png_bytes(draw=False)), "empty"),
        (data_url(png_bytes((240, 80), fmt="JPEG"), "image/jpeg"), "drawn on the pad"),
        (data_url(png_bytes((240, 80), fmt="JPEG")), "drawn on the pad"),
        (data_url(png_bytes((240, 80), fmt="GIF")), "drawn on the pad"),
        (data_url(png_bytes((12, 12))), "unusable size"),
        (data_url(png_bytes((3000, 40))), "unusable size"),
        ("data:image/png;base64,!!!not base64!!!", "could not be read"),
        (data_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "could not be read"),
        (data_url(b"just some text"), "could not be read"),
        ("", "drawn on the pad"),
        ("https://example.com/signature.png", "drawn on the pad"),
    ],
)
async def test_a_bad_signature_image_is_refused(env: Env, image: str, why: str) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    with pytest.raises(ValidationFailed) as caught:
        await sign_as(env, link_of(issued, APPLICANT).token, draft.frozen_sha256, image=image)
    assert why in caught.value.message
    assert await all_rows(env, Signature) == []
    assert await audits(env, "agreement.sign") == []


async def test_an_oversized_signature_is_refused(env: Env) -> None:
    assert len(data_url(b"\x00" * (signing.MAX_SIGNATURE_BYTES + 1))) < 600_000
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    with pytest.raises(ValidationFailed) as caught:
        await sign_as(
            env,
            link_of(issued, APPLICANT).token,
            draft.frozen_sha256,
            image=data_url(b"\x00" * (signing.MAX_SIGNATURE_BYTES + 1)),
        )
    assert "too large" in caught.value.message


async def test_a_refusal_is_recorded_with_its_reason(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    link = link_of(issued, RESPONDENT)
    refusal = await refuse_as(env, link.token, draft.frozen_sha256, "  赔偿金额不认可  ")
    assert refusal.outcome == Outcome.REFUSED
    assert refusal.reason == "赔偿金额不认可"
    assert refusal.image_png is None and refusal.image_sha256 == ""
    assert (refusal.text_sha256, refusal.version) == (draft.frozen_sha256, draft.frozen_version)
    assert (refusal.ip, refusal.user_agent) == (IP, USER_AGENT)
    now = await states(env, draft_id)
    assert now[RESPONDENT].refused and not now[RESPONDENT].signed
    assert not now[APPLICANT].refused


async def test_answers_are_in_the_audit_trail_with_ip_and_user_agent(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    signed = await sign_as(env, link_of(issued, APPLICANT).token, draft.frozen_sha256)
    refused = await refuse_as(env, link_of(issued, RESPONDENT).token, draft.frozen_sha256, "不同意")
    (sign_event,) = await audits(env, "agreement.sign")
    (refuse_event,) = await audits(env, "agreement.refuse")
    for event, answer in ((sign_event, signed), (refuse_event, refused)):
        assert answer.audit_event_id == event.id
        assert (event.ip, event.user_agent) == (IP, USER_AGENT)
        assert event.actor_id is None
        assert event.station_id == env.seed.station_id
        assert (event.object_type, event.object_id) == ("agreement_signer", str(answer.signer_id))
        detail = json.loads(event.detail)
        assert detail["draft"] == draft.id and detail["via"] == "signing_link"
        assert detail["version"] == draft.frozen_version
    assert json.loads(sign_event.detail)["sha256"] == draft.frozen_sha256
    assert json.loads(sign_event.detail)["image"] == signed.image_sha256
    assert json.loads(refuse_event.detail)["reason"] == "不同意"


async def test_the_presiding_officer_signs_from_their_account(env: Env) -> None:
    booked = await book_session(env)
    draft, _issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    async with env.factory() as db:
        with pytest.raises(NotAllowed):
            await signing.signer_for_staff(db, env.actor("chief"), draft_id)
        with pytest.raises(NotFound):
            await signing.signer_for_staff(db, env.actor("outsider"), draft_id)
    officer = env.actor("officer")
    async with transaction(env.factory) as db:
        door = await signing.signer_for_staff(db, officer, draft_id)
        assert door.via == Via.STAFF and door.signer.kind == SignerKind.PRESIDING
        signature = await signing.sign(
            db,
            door,
            sign_input(draft.frozen_sha256),
            ip="10.0.0.1",
            user_agent="pytest",
            actor=officer,
        )
    assert signature.via == "staff"
    (event,) = await audits(env, "agreement.sign")
    assert event.actor_id == officer.user_id
    assert (await states(env, draft_id))[PRESIDING_NAME].signed


# --- invitations and links -----------------------------------------------------------------


async def test_a_party_invitation_leads_to_its_signer_and_an_expert_to_none(env: Env) -> None:
    booked = await book_session(env, expert=True)
    applicant_invite = booked.invitation_of(APPLICANT).invitation
    expert_invite = booked.invitation_of("陈律师").invitation
    assert expert_invite.role == "expert"
    async with env.factory() as db:
        assert await signing.signer_for_invitation(db, applicant_invite) is None  # no draft yet
    draft, issued = await frozen_draft(env, booked)
    assert "陈律师（律师）" in draft.frozen_text  # present, but does not sign
    async with env.factory() as db:
        door = await signing.signer_for_invitation(db, applicant_invite)
        respondent = await signing.signer_for_invitation(
            db, booked.invitation_of(RESPONDENT).invitation
        )
        assert await signing.signer_for_invitation(db, expert_invite) is None
    assert door is not None and respondent is not None
    assert door.signer.id == link_of(issued, APPLICANT).signer.id
    assert respondent.signer.id == link_of(issued, RESPONDENT).signer.id
    assert door.via == Via.INVITATION and door.draft.id == draft.id
    # An answer through the invitation is recorded as such.
    async with transaction(env.factory) as db:
        signature = await signing.sign(
            db, door, sign_input(draft.frozen_sha256), ip=IP, user_agent=USER_AGENT
        )
    assert signature.via == "invitation"


async def test_reissuing_a_signing_link_kills_the_old_one(env: Env) -> None:
    booked = await book_session(env)
    _draft, issued = await frozen_draft(env, booked)
    old = link_of(issued, APPLICANT)
    assert old.signer.id is not None
    for username in ("officer_b", "admin"):
        with pytest.raises(NotAllowed):
            async with transaction(env.factory) as db:
                await service.reissue_link(
                    db, env.actor(username), booked.session_id, old.signer.id, link_days=30
                )
    await door_of(env, old.token)  # still good after the refusals
    async with transaction(env.factory) as db:
        new = await service.reissue_link(
            db, env.actor("clerk"), booked.session_id, old.signer.id, link_days=30
        )
    assert new.token != old.token
    async with env.factory() as db:
        assert await signing.signer_by_token(db, old.token) is None
        door = await signing.signer_by_token(db, new.token)
    assert door is not None and door.signer.id == old.signer.id
    assert len(await audits(env, "agreement.link_reissue")) == 1


# --- fixed gaps: signatures after an unfreeze, links after a late freeze ------------------


async def test_signatures_stop_counting_as_soon_as_the_text_is_unfrozen(env: Env) -> None:
    booked = await book_session(env)
    draft, issued = await frozen_draft(env, booked)
    draft_id = draft_id_of(draft)
    await sign_as(env, link_of(issued, APPLICANT).token, draft.frozen_sha256)
    await unfreeze(env, draft_id, draft.version)
    assert not (await states(env, draft_id))[APPLICANT].signed


async def test_freezing_after_the_session_still_gives_working_links(env: Env) -> None:
    booked = await book_session(env)
    async with transaction(env.factory) as db:
        session = await db.get(MediationSession, booked.session_id)
        assert session is not None
        # The session took place six weeks ago; the paperwork is finished only now.
        session.starts_at -= timedelta(days=45)
        session.ends_at -= timedelta(days=45)
    _draft, issued = await frozen_draft(env, booked)
    async with env.factory() as db:
        assert await signing.signer_by_token(db, link_of(issued, APPLICANT).token) is not None

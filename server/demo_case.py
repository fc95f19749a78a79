"""The demo's finished case: a police mediation that ended in a sealed agreement.

So that ``/verify``, the case records and the evidence can be tried at once,
`concord demo` walks one minor property-damage dispute through the real
services: registered, triaged, a session held, the agreement drafted,
frozen, signed by both parties and the presiding officer (signatures drawn
here with Pillow), sealed with the demo certificate and the sample seal,
and archived. Nothing is written around the services.
"""

from __future__ import annotations

import base64
import io
import math
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlmodel import col, select

from server.agreements import archive, station_seal
from server.agreements import service as agreements
from server.agreements import signing as agreement_signing
from server.agreements.pki import create_station_pki
from server.agreements.rules import Via
from server.agreements.sample_seal import sample_seal_png
from server.agreements.schemas import DraftContent, DraftEdit, SignInput
from server.agreements.settings import SealerSettings
from server.agreements.works import AgreementWorks
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.disputes import service as disputes
from server.disputes.schemas import DisputeInput, TriageInput
from server.models import Agreement, Dispute, MediationSession, StaffUser, Station, utcnow
from server.pii import PiiVault
from server.sessions import service as sessions
from server.sessions.rules import POLICE_CHECKS, SessionStatus
from server.sessions.schemas import BookingInput

TITLE = "电动车剐蹭纠纷"


@dataclass(frozen=True)
class FinishedCase:
    case_number: str
    verify_url: str
    pdf_path: Path
    demo_pki: Path | None


def _dispute() -> dict[str, object]:
    return {
        "title": TITLE,
        "category": "property",
        "cause": "何某驾驶电动车在小区内剐蹭邓某停放的轿车，双方因修车费用发生争吵",
        "place": "滨河小区东门停车场",
        "scale": 2,
        "people_involved": "何某（电动车驾驶人）、邓某（车主）",
        "trend": "easing",
        "description": (
            "本月某日傍晚，何建新驾驶电动车在滨河小区东门停车场转弯时，"
            "剐蹭邓丽停放的白色轿车左后门，造成漆面划伤。双方因修车费用争吵，"
            "邓丽报警，民警到场后双方情绪平复，同意调解。"
        ),
        "source": "call_110",
        "parties": [
            {
                "name": "邓丽",
                "role": "applicant",
                "id_number": "440304199211034628",
                "phone": "13700137011",
                "address": "滨河小区7栋1203",
            },
            {
                "name": "何建新",
                "role": "respondent",
                "id_number": "440303198805123010",
                "phone": "13600136012",
                "address": "滨河小区2栋601",
            },
        ],
    }


CONTENT = DraftContent(
    facts=(
        "本月某日18时许，何建新驾驶电动车在滨河小区东门停车场转弯时，"
        "剐蹭邓丽停放的白色轿车左后门，造成漆面划伤约30厘米。双方因修车费用发生争吵，"
        "邓丽报警。经民警调查，事实清楚，双方均同意由公安机关调解。"
    ),
    terms=(
        "何建新对剐蹭造成的车辆损失承担全部责任，赔偿邓丽修车费人民币捌佰元（800元）。",
        "邓丽收到上述款项后，不再就本次事件向何建新主张其他费用。",
        "双方保证今后互相尊重，不再因本事件发生争执。",
    ),
    performance_manner="何建新通过银行转账一次性支付至邓丽本人账户",
    others_present="",
)


def drawn_signature(name: str, seed: int) -> str:
    """A signature-like scribble as the pad would send it: a PNG data URL, ink on clear."""
    rng = random.Random(seed)
    image = Image.new("RGBA", (480, 180), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    x = 30.0
    for index, _char in enumerate(name):
        points = []
        for step in range(24):
            t = step / 23
            y = 90 + 45 * math.sin(t * math.pi * (2 + index)) * rng.uniform(0.6, 1.0)
            points.append((x + t * 110, y + rng.uniform(-6, 6)))
        pen.line(points, fill=(17, 17, 17, 255), width=5, joint="curve")
        x += 130
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def ensure_finished_case(
    factory: SessionFactory, config: Config, vault: PiiVault, tz: ZoneInfo
) -> FinishedCase | None:
    """Make the finished case once; later runs find it and say where it is."""
    demo_pki: Path | None = None
    async with transaction(factory) as db:
        station = (await db.exec(select(Station).order_by(col(Station.id)))).first()
        officer = (await db.exec(select(StaffUser).where(StaffUser.username == "officer"))).first()
        if station is None or station.id is None or officer is None:
            return None
        existing = (
            await db.exec(
                select(Agreement)
                .join(Dispute, col(Dispute.id) == col(Agreement.dispute_id))
                .where(Dispute.title == TITLE, Dispute.station_id == station.id)
                .order_by(col(Agreement.version).desc())
            )
        ).first()
        if existing is not None:
            return _result(config, existing, None)
        if config.seal_key_path is None and config.seal_cert_path is None:
            pki = create_station_pki(config.demo_pki_dir, station.name)
            demo_pki = pki.key_path.parent
        if not station.seal_file:
            await station_seal.set_station_seal(
                db,
                None,
                station,
                sample_seal_png(station.name),
                data_dir=config.data_dir,
                sample=True,
            )
        actor = actor_for(officer, "127.0.0.1", "concord demo")
        now = utcnow()
        data = DisputeInput.model_validate(
            {
                **_dispute(),
                "office_id": officer.office_id,
                "occurred_at": (now - timedelta(days=2)).astimezone(tz),
            }
        )
        dispute = await disputes.register(db, actor, data, vault=vault, tz=tz)
        assert dispute.id is not None
        await disputes.triage(
            db,
            actor,
            dispute.id,
            TriageInput.model_validate(
                {"risk_level": "general", "assignee_id": officer.id, "reason": "轻微财物损失"}
            ),
        )
        parties = await disputes.parties_of(db, dispute.id)
        booking = await sessions.book(
            db,
            actor,
            dispute.id,
            BookingInput.model_validate(
                {
                    "starts_at": (now - timedelta(minutes=10)).astimezone(tz),
                    "duration_minutes": 30,
                    "legal_track": "police",
                    "police_checks": list(POLICE_CHECKS),
                    "presiding_officer_id": officer.id,
                    "party_ids": [p.id for p in parties],
                    "confirm_conflicts": True,
                }
            ),
            vault=vault,
            tz=tz,
            grace=timedelta(hours=config.invitation_grace_hours),
        )
        session_id = booking.session.id or 0
        ctx = await agreements.open_draft(db, actor, session_id)
        deadline = (now + timedelta(days=7)).astimezone(tz).date()
        content = CONTENT.model_copy(update={"performance_deadline": deadline})
        await agreements.save(
            db, actor, ctx.draft.id or 0, DraftEdit(base_version=ctx.draft.version, content=content)
        )
        ctx, _links = await agreements.freeze(
            db,
            actor,
            ctx.draft.id or 0,
            ctx.draft.version,
            vault=vault,
            tz=tz,
            link_days=config.agreement_link_days,
        )
        draft_id = ctx.draft.id or 0
        for index, state in enumerate(await agreement_signing.signer_states(db, ctx.draft)):
            door = agreement_signing.SigningDoor(state.signer, ctx.draft, Via.SIGNING_LINK)
            if state.signer.staff_id is not None:
                door = await agreement_signing.signer_for_staff(db, actor, draft_id)
            await agreement_signing.sign(
                db,
                door,
                SignInput(
                    text_sha256=ctx.draft.frozen_sha256,
                    agree=True,
                    image_data_url=drawn_signature(state.signer.name, index),
                ),
                ip="127.0.0.1",
                user_agent="concord demo",
                actor=actor if state.signer.staff_id is not None else None,
            )
    works = AgreementWorks(SealerSettings.from_config(config))
    try:
        agreement = await archive.seal(
            factory,
            actor,
            draft_id,
            producer=works,
            vault=vault,
            settings=archive.Settings(
                agreements_dir=config.effective_agreements_dir,
                data_dir=config.data_dir,
                case_number_pattern=config.case_number_pattern,
                public_url=config.effective_public_url,
                tz=tz,
                followups=config.followup_settings,
            ),
        )
    finally:
        await works.close()
    async with transaction(factory) as db:
        session = await db.get(MediationSession, session_id)
        if session is not None:
            session.status = SessionStatus.HELD
    return _result(config, agreement, demo_pki)


def _result(config: Config, agreement: Agreement, demo_pki: Path | None) -> FinishedCase:
    return FinishedCase(
        case_number=agreement.case_number,
        verify_url=f"{config.effective_public_url}/verify/{agreement.verify_code}",
        pdf_path=config.effective_agreements_dir / agreement.file_name,
        demo_pki=demo_pki,
    )

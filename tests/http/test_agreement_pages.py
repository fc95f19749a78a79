"""The agreement through the pages: draft, freeze, sign by link, seal, archive, verify.

Real all the way: the PDF is rendered by WeasyPrint and sealed by pyHanko in
the worker process with a station certificate made for the test, and the
files land in the test's data directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import re
import subprocess
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, CookieJar, FormData
from sqlmodel import select

from server.agreements import station_seal
from server.agreements.pki import StationPki, create_station_pki
from server.agreements.rules import zh_date
from server.agreements.sample_seal import sample_seal_png
from server.agreements.schemas import MAX_TERMS, DraftContent
from server.app import create_app
from server.config import Config
from server.db import SessionFactory, transaction
from server.demo_case import drawn_signature
from server.http.pages.common import MAX_FIELD
from server.keys import SESSIONS
from server.models import Agreement, AgreementDraft, AuditEvent, Dispute, Station, utcnow
from tests.conftest import AiohttpClient, Client, Seed, csrf_from, login
from tests.http.test_door import APPLICANT, RESPONDENT, Booked, book_session

LINK = re.compile(r"http://[^/]+(/sign/[A-Za-z0-9_\-]+)")
#: The office's day: the archive's date filter and the deadline rule go by it.
TZ = ZoneInfo("Asia/Shanghai")


def local_today() -> date:
    """Today where the office is, by the (possibly pinned) clock; not the UTC date."""
    return utcnow().astimezone(TZ).date()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("pki"), "白石派出所")


@pytest.fixture
async def sealing(config: Config, pki: StationPki, factory: SessionFactory, seed: Seed) -> Config:
    """The test config with a sealing certificate, and the station's (sample) seal uploaded."""
    config.seal_key_path = pki.key_path
    config.seal_cert_path = pki.cert_path
    config.seal_trust_roots = [pki.ca_cert_path]
    async with transaction(factory) as db:
        station = await db.get(Station, seed.station_id)
        assert station is not None
        await station_seal.set_station_seal(
            db, None, station, sample_seal_png(station.name), data_dir=config.data_dir, sample=True
        )
    return config


@pytest.fixture
async def app_client(aiohttp_client: AiohttpClient, sealing: Config) -> Client:
    return await aiohttp_client(create_app(sealing))


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


DRAFT = {
    "facts": "王丽华家犬只夜间吠叫并咬伤邻居，双方因赔偿发生争执。",
    "disputed_matters": "医药费、误工费的数额。",
    "responsibility": "张国强未拴犬绳，负主要责任。",
    "term_1": "张国强赔偿王丽华医药费人民币贰仟元。",
    "term_2": "张国强今后遛犬时拴好犬绳。",
    "performance_manner": "银行转账一次性支付",
    "copies": "",
    "others_present": "",
}


async def _workspace(client: Client, session_id: int) -> tuple[str, str, int]:
    page = await client.get(f"/sessions/{session_id}/agreement")
    assert page.status == 200
    html = await page.text()
    version = int(re.search(r'name="base_version" value="(\d+)"', html).group(1))  # type: ignore[union-attr]
    return html, csrf_from(html), version


async def _save(client: Client, session_id: int, **changes: str) -> int:
    _html, csrf, version = await _workspace(client, session_id)
    # Read at each save: a module constant would be computed at import, by the real clock.
    deadline = (local_today() + timedelta(days=20)).isoformat()
    data = {
        **DRAFT,
        "performance_deadline": deadline,
        **changes,
        "csrf_token": csrf,
        "base_version": str(version),
    }
    response = await client.post(f"/sessions/{session_id}/agreement", data=data)
    assert response.status == 200, await response.text()
    return version + 1


async def _freeze(client: Client, session_id: int) -> dict[str, str]:
    """Freeze and return the signing links shown once, by signer name."""
    _html, csrf, version = await _workspace(client, session_id)
    response = await client.post(
        f"/sessions/{session_id}/agreement/freeze",
        data={"csrf_token": csrf, "base_version": str(version)},
    )
    html = await response.text()
    assert response.status == 200, html
    links: dict[str, str] = {}
    for block in re.findall(r"<li><strong>(.+?)</strong><br><code[^>]*>([^<]+)</code>", html):
        links[block[0]] = LINK.search(block[1]).group(1)  # type: ignore[union-attr]
    return links


async def _sign(
    client: Client | ClientSession,
    path: str,
    *,
    seed: int = 1,
    action: str = "sign",
    digest: str | None = None,
) -> dict[str, object]:
    page = await client.get(path)
    assert page.status == 200
    html = await page.text()
    shown = re.search(r'id="text-sha">([0-9a-f]{64})<', html).group(1)  # type: ignore[union-attr]
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]
    payload: dict[str, object] = {"action": action, "text_sha256": digest or shown}
    if action == "sign":
        payload.update(agree=True, image_data_url=drawn_signature("签名", seed))
    else:
        payload["reason"] = "赔偿数额不能接受"
    response = await client.post(path, json=payload, headers={"X-CSRF-Token": csrf})
    body: dict[str, object] = await response.json()
    body["status"] = response.status
    return body


async def _run(*command: str) -> str:
    """A poppler tool's output (its exit status is part of what the caller checks)."""
    return await asyncio.to_thread(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    )


@asynccontextmanager
async def browser_of(client: Client) -> AsyncIterator[ClientSession]:
    """Another person's own browser: the same server, no cookies of the officer's."""
    jar = CookieJar(unsafe=True)  # the test server is on an IP address
    async with ClientSession(base_url=str(client.make_url("")), cookie_jar=jar) as session:
        yield session


def _draft_id(html: str) -> int:
    match = re.search(r"/agreements/drafts/(\d+)/sign", html)
    assert match, "the presiding officer is offered to sign"
    return int(match.group(1))


@dataclass
class Sealed:
    agreement_id: int
    links: dict[str, str]
    pdf: bytes


async def _sign_everyone(client: Client, booked: Booked) -> dict[str, str]:
    await _save(client, booked.session_id)
    links = await _freeze(client, booked.session_id)
    assert set(links) == {APPLICANT, RESPONDENT, "测试officer"}
    # Each party signs in their own browser, through their personal link.
    for index, name in enumerate((APPLICANT, RESPONDENT)):
        async with browser_of(client) as party:
            answer = await _sign(party, links[name], seed=index)
        assert answer == {"ok": True, "outcome": "sign", "status": 200}
    html, _csrf, _version = await _workspace(client, booked.session_id)
    staff = await _sign(client, f"/agreements/drafts/{_draft_id(html)}/sign", seed=9)
    assert staff["ok"] is True
    return links


async def _seal(client: Client, session_id: int) -> tuple[int, str]:
    _html, csrf, _version = await _workspace(client, session_id)
    response = await client.post(
        f"/sessions/{session_id}/agreement/seal", data={"csrf_token": csrf}, allow_redirects=False
    )
    return response.status, response.headers.get("Location", "") or await response.text()


async def _sealed(client: Client, booked: Booked) -> Sealed:
    await login(client, "officer")
    links = await _sign_everyone(client, booked)
    status, location = await _seal(client, booked.session_id)
    assert status == 303, location
    agreement_id = int(location.split("/")[2].split("?")[0])
    pdf = await client.get(f"/agreements/{agreement_id}/pdf")
    assert pdf.status == 200
    return Sealed(agreement_id, links, await pdf.read())


async def test_a_signed_agreement_is_sealed_archived_and_verifiable(
    app_client: Client, booked: Booked, factory: SessionFactory, pki: StationPki, tmp_path: Path
) -> None:
    sealed = await _sealed(app_client, booked)
    async with factory() as db:
        agreement = await db.get(Agreement, sealed.agreement_id)
        assert agreement is not None
        actions = set(await db.exec(select(AuditEvent.action)))
        dispute = await db.get(Dispute, booked.dispute_id)
        assert dispute is not None and dispute.status == "agreement"
    assert agreement.case_number.endswith("调字第0001号")
    assert agreement.pdf_sha256 == hashlib.sha256(sealed.pdf).hexdigest()
    assert {"agreement.freeze", "agreement.sign", "agreement.seal", "agreement.download"} <= actions
    # The PDF has the right legal form and the names, and poppler accepts the seal.
    path = tmp_path / "a.pdf"
    path.write_bytes(sealed.pdf)
    text = await _run("pdftotext", "-layout", str(path), "-")
    assert "人民调解协议书" in text and APPLICANT in text and RESPONDENT in text
    assert "张国强赔偿王丽华医药费人民币贰仟元" in text
    sig = await _run("pdfsig", str(path))
    assert "Signature is Valid" in sig and "Total document signed" in sig
    # The record page, the dispute moved to "agreement reached", the bundle.
    record = await app_client.get(f"/agreements/{sealed.agreement_id}")
    assert agreement.case_number in await record.text()
    bundle = await app_client.get(f"/agreements/{sealed.agreement_id}/bundle.zip")
    with zipfile.ZipFile(io.BytesIO(await bundle.read())) as archive_zip:
        names = archive_zip.namelist()
        assert any(n.endswith("agreement.pdf") for n in names)
        evidence = json.loads(
            archive_zip.read(next(n for n in names if n.endswith("evidence.json")))
        )
        minutes = archive_zip.read(next(n for n in names if n.endswith("minutes.txt"))).decode()
    assert evidence["pdf_sha256"] == agreement.pdf_sha256
    assert len(evidence["signers"]) == 3
    assert minutes.startswith(
        "调解笔录\n"
    )  # the structured minutes (tests/http/test_minutes_pages.py)
    # Each party's personal link now hands out their copy: the same bytes.
    async with browser_of(app_client) as party:
        copy = await party.get(sealed.links[APPLICANT] + "/copy.pdf")
        assert copy.status == 200
        assert await copy.read() == sealed.pdf


async def test_verify_page_accepts_the_archived_file_and_rejects_one_flipped_byte(
    app_client: Client, booked: Booked, factory: SessionFactory
) -> None:
    sealed = await _sealed(app_client, booked)
    async with browser_of(app_client) as visitor:
        page = await visitor.get("/lang/en?next=/verify")
        csrf = csrf_from(await page.text())

        async def check(data: bytes) -> str:
            form = FormData()
            form.add_field("csrf_token", csrf)
            form.add_field("file", data, filename="a.pdf", content_type="application/pdf")
            response = await visitor.post("/verify", data=form)
            assert response.status == 200
            return await response.text()

        good = await check(sealed.pdf)
        assert 'data-valid="yes"' in good and "调字第0001号" in good
        flipped = bytearray(sealed.pdf)
        at = sealed.pdf.index(b"stream", 2000) + 20
        flipped[at] ^= 0x01
        bad = await check(bytes(flipped))
        assert 'data-valid="no"' in bad
        assert "The content was changed after it was sealed." in bad
        assert "These exact bytes are not in the archive." in bad
    async with factory() as db:
        agreement = await db.get(Agreement, sealed.agreement_id)
        assert agreement is not None
    async with browser_of(app_client) as visitor:
        qr = await visitor.get(f"/verify/{agreement.verify_code}")
        assert qr.status == 200
        text = await qr.text()
        assert agreement.case_number in text
        assert APPLICANT not in text  # names are masked on the public page
        wrong = await visitor.get("/verify/not-a-real-code-at-all")
        assert wrong.status == 404


async def test_freezing_an_incomplete_draft_names_what_is_missing(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await app_client.get("/lang/en?next=/")
    await _save(app_client, booked.session_id, performance_deadline="", performance_manner="")
    _html, csrf, version = await _workspace(app_client, booked.session_id)
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement/freeze",
        data={"csrf_token": csrf, "base_version": str(version)},
    )
    html = await response.text()
    assert response.status == 422
    assert "State the manner of performance." in html
    assert "Set the deadline for performance." in html
    assert 'data-field="performance_deadline"' in html


async def test_a_signature_for_a_superseded_text_is_refused(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    links = await _freeze(app_client, booked.session_id)
    async with browser_of(app_client) as party:
        page = await party.get(links[APPLICANT])
        old = re.search(r'id="text-sha">([0-9a-f]{64})<', await page.text()).group(1)  # type: ignore[union-attr]
        # Meanwhile the officer changes a term: unfreeze, edit, freeze again.
        _html, csrf, version = await _workspace(app_client, booked.session_id)
        response = await app_client.post(
            f"/sessions/{booked.session_id}/agreement/unfreeze",
            data={"csrf_token": csrf, "base_version": str(version), "reason": "改赔偿数额"},
        )
        assert response.status == 200
        await _save(app_client, booked.session_id, term_1="张国强赔偿王丽华人民币叁仟元。")
        again = await _freeze(app_client, booked.session_id)
        assert again == {}  # the same people keep their links
        stale = await _sign(party, links[APPLICANT], digest=old)
        assert stale["status"] == 409
        assert stale["error"]["code"] == "conflict"  # type: ignore[index]
        fresh = await _sign(party, links[APPLICANT])
        assert fresh["ok"] is True


async def test_a_deeply_nested_answer_is_refused_without_a_traceback(
    app_client: Client, booked: Booked, caplog: pytest.LogCaptureFixture
) -> None:
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    links = await _freeze(app_client, booked.session_id)
    async with browser_of(app_client) as party:
        page = await party.get(links[APPLICANT])
        csrf = re.search(r'data-csrf="([0-9a-f]+)"', await page.text()).group(1)  # type: ignore[union-attr]
        response = await party.post(
            links[APPLICANT],
            data="[" * 30_000 + "]" * 30_000,
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "validation_failed"
        assert (await _sign(party, links[APPLICANT]))["ok"] is True
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_refusal_is_recorded_and_blocks_sealing(app_client: Client, booked: Booked) -> None:
    await login(app_client, "officer")
    await app_client.get("/lang/en?next=/")
    await _save(app_client, booked.session_id)
    links = await _freeze(app_client, booked.session_id)
    async with browser_of(app_client) as party:
        answer = await _sign(party, links[RESPONDENT], action="refuse")
    assert answer == {"ok": True, "outcome": "refuse", "status": 200}
    html, _csrf, _version = await _workspace(app_client, booked.session_id)
    assert "赔偿数额不能接受" in html
    status, body = await _seal(app_client, booked.session_id)
    assert status == 409
    assert f"{RESPONDENT} refused to sign" in body


async def test_sealing_waits_for_every_signature(app_client: Client, booked: Booked) -> None:
    await login(app_client, "officer")
    await app_client.get("/lang/en?next=/")
    await _save(app_client, booked.session_id)
    await _freeze(app_client, booked.session_id)
    status, body = await _seal(app_client, booked.session_id)
    assert status == 409
    assert "Still waiting for signatures from" in body


async def test_who_may_draft_and_seal(app_client: Client, booked: Booked) -> None:
    await login(app_client, "admin")
    assert (await app_client.get(f"/sessions/{booked.session_id}/agreement")).status == 403
    await login(app_client, "officer_b")
    assert (await app_client.get(f"/sessions/{booked.session_id}/agreement")).status == 403
    await login(app_client, "clerk")
    page = await app_client.get(f"/sessions/{booked.session_id}/agreement")
    assert page.status == 200
    assert "seal-form" not in await page.text()


async def test_wrong_signing_links_get_the_door_refusal(app_client: Client) -> None:
    async with browser_of(app_client) as stranger:
        response = await stranger.get("/sign/" + "x" * 43)
        assert response.status == 404
        assert response.headers["Cache-Control"] == "no-store"


async def test_sealing_without_a_certificate_says_so(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked, factory: SessionFactory
) -> None:
    client = await aiohttp_client(create_app(config))  # no seal key configured
    await login(client, "officer")
    await client.get("/lang/en?next=/")
    await _sign_everyone(client, booked)
    async with transaction(factory) as db:
        station = (await db.exec(select(Station))).first()
        assert station is not None
        await station_seal.set_station_seal(
            db, None, station, sample_seal_png("白石"), data_dir=config.data_dir, sample=True
        )
    status, body = await _seal(client, booked.session_id)
    assert status == 409
    assert "sealing certificate is not configured" in body


@pytest.mark.around_local_midnight
async def test_case_records_search_and_a_correction_makes_version_two(
    app_client: Client, booked: Booked, factory: SessionFactory
) -> None:
    sealed = await _sealed(app_client, booked)
    async with factory() as db:
        first = await db.get(Agreement, sealed.agreement_id)
        assert first is not None
    today = local_today().isoformat()
    assert first.case_number.startswith(f"（{local_today().year}）")  # the office's year
    for query in (
        f"party_name={RESPONDENT}",
        "case_number=调字第0001",
        f"date_from={today}&date_to={today}",
        f"office_id={first.office_id}",
    ):
        page = await app_client.get(f"/agreements?{query}")
        assert first.case_number in await page.text(), query
    none = await app_client.get("/agreements?party_name=无此人")
    assert first.case_number not in await none.text()
    # A correction: reopen, change, freeze, everyone signs again, seal again.
    record = await app_client.get(f"/agreements/{sealed.agreement_id}")
    csrf = csrf_from(await record.text())
    response = await app_client.post(
        f"/agreements/{sealed.agreement_id}/correct",
        data={"csrf_token": csrf, "reason": "履行期限写错"},
        allow_redirects=False,
    )
    assert response.status == 303
    await _save(app_client, booked.session_id, performance_manner="现金当面支付")
    links = await _freeze(app_client, booked.session_id)
    assert links == {}
    for index, name in enumerate((APPLICANT, RESPONDENT)):
        async with browser_of(app_client) as party:
            assert (await _sign(party, sealed.links[name], seed=index))["ok"] is True
    html, _csrf, _version = await _workspace(app_client, booked.session_id)
    assert (await _sign(app_client, f"/agreements/drafts/{_draft_id(html)}/sign"))["ok"] is True
    status, location = await _seal(app_client, booked.session_id)
    assert status == 303, location
    second_id = int(location.split("/")[2].split("?")[0])
    async with factory() as db:
        second = await db.get(Agreement, second_id)
        assert second is not None
    assert second.case_number == first.case_number
    assert (second.version, second.supersedes_id) == (2, first.id)
    assert second.correction_reason == "履行期限写错"
    await app_client.get("/lang/en?next=/")
    old_record = await app_client.get(f"/agreements/{first.id}")
    assert "A corrected version supersedes this one." in await old_record.text()


async def test_the_free_text_minutes_are_gone_and_the_workspace_links_the_minutes(
    app_client: Client, booked: Booked
) -> None:
    """The minutes are timed entries written in the room now: no box here, a link instead."""
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    html, csrf, _version = await _workspace(app_client, booked.session_id)
    assert 'name="minutes"' not in html
    assert f'href="/sessions/{booked.session_id}/minutes"' in html
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement/minutes",
        data={"csrf_token": csrf, "minutes": "旧的笔录"},
    )
    assert response.status in (404, 405)


async def test_a_box_typed_full_with_line_breaks_is_kept_with_one_kind_of_break(
    app_client: Client, booked: Booked, factory: SessionFactory
) -> None:
    """A browser counts a textarea's line break as one character against maxlength
    but sends it as CRLF: a box typed to its limit must not be refused for that."""
    await login(app_client, "officer")
    limit = 4000  # the facts box
    typed = "\n".join(["记" * 99] * (limit // 100))
    assert len(typed) < limit < len(typed.replace("\n", "\r\n"))
    await _save(app_client, booked.session_id, facts=typed.replace("\n", "\r\n"))
    async with factory() as db:
        draft = (
            await db.exec(
                select(AgreementDraft).where(AgreementDraft.session_id == booked.session_id)
            )
        ).one()
    assert json.loads(draft.content)["facts"] == typed


async def test_a_field_longer_than_any_form_allows_is_refused_not_cut(
    app_client: Client, booked: Booked, factory: SessionFactory
) -> None:
    await login(app_client, "officer")
    _html, csrf, version = await _workspace(app_client, booked.session_id)
    data = {**DRAFT, "csrf_token": csrf, "base_version": str(version)}
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement",
        data={**data, "facts": "事" * (MAX_FIELD + 1)},
    )
    assert response.status == 422
    assert f"最多 {MAX_FIELD} 个字符。" in await response.text()
    async with factory() as db:
        draft = (
            await db.exec(
                select(AgreementDraft).where(AgreementDraft.session_id == booked.session_id)
            )
        ).one()
    assert draft.version == version


# --- terms with deadlines of their own ------------------------------------------------------


async def _draft(client: Client, session_id: int) -> DraftContent:
    async with client.app[SESSIONS]() as db:
        draft = (
            await db.exec(select(AgreementDraft).where(AgreementDraft.session_id == session_id))
        ).one()
    return DraftContent.model_validate_json(draft.content)


@pytest.mark.around_local_midnight
async def test_a_term_deadline_set_in_the_form_is_kept_and_printed(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    own = local_today() + timedelta(days=5)
    await _save(app_client, booked.session_id, term_deadline_2=own.isoformat())
    content = await _draft(app_client, booked.session_id)
    assert content.term_deadlines == (None, own)
    html, _csrf, _version = await _workspace(app_client, booked.session_id)
    assert f"张国强今后遛犬时拴好犬绳。（本项于{zh_date(own)}前履行完毕）" in html
    assert f'name="term_deadline_2" type="date" value="{own.isoformat()}"' in html
    # Two terms and spare boxes for more.
    assert 'name="term_4"' in html and 'name="term_5"' not in html
    assert 'id="problems"' not in html


@pytest.mark.around_local_midnight
async def test_an_empty_box_between_terms_is_left_out_with_its_date(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    own = local_today() + timedelta(days=3)
    await _save(
        app_client,
        booked.session_id,
        term_2="",
        term_deadline_2=own.isoformat(),
        term_3="双方互不追究。",
        term_deadline_3=own.isoformat(),
    )
    content = await _draft(app_client, booked.session_id)
    assert content.terms == ("张国强赔偿王丽华医药费人民币贰仟元。", "双方互不追究。")
    assert content.term_deadlines == (None, own)


@pytest.mark.around_local_midnight
async def test_a_term_due_after_the_overall_deadline_is_named_at_its_box(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await app_client.get("/lang/en?next=/")
    late = local_today() + timedelta(days=21)  # the draft's overall deadline is 20 days ahead
    await _save(app_client, booked.session_id, term_deadline_1=late.isoformat())
    html, csrf, version = await _workspace(app_client, booked.session_id)
    message = "The deadline of term 1 is after the deadline for performance."
    assert f'<p class="field-error" id="term_deadline_1-error">{message}</p>' in html
    assert f'<li data-field="term_deadline_1">{message}</li>' in html
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement/freeze",
        data={"csrf_token": csrf, "base_version": str(version)},
    )
    assert response.status == 422
    refused = await response.text()
    assert f'<p class="field-error" id="term_deadline_1-error">{message}</p>' in refused
    assert 'id="term_deadline_2-error"' not in refused


@pytest.mark.around_local_midnight
async def test_a_past_term_deadline_is_named_in_chinese(app_client: Client, booked: Booked) -> None:
    await login(app_client, "officer")
    past = local_today() - timedelta(days=1)
    await _save(app_client, booked.session_id, term_deadline_2=past.isoformat())
    html, _csrf, _version = await _workspace(app_client, booked.session_id)
    assert "第2条的履行期限已过" in html


@pytest.mark.around_local_midnight
async def test_a_malformed_term_date_is_refused_at_its_box_and_nothing_changes(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    before = await _draft(app_client, booked.session_id)
    html, csrf, version = await _workspace(app_client, booked.session_id)
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement",
        data={
            "csrf_token": csrf,
            "base_version": str(version),
            "term_1": "赔礼道歉。",
            "term_3": "赔偿。",
            "term_deadline_3": "2027-02-30",
        },
    )
    assert response.status == 422
    page = await response.text()
    # The second term kept is box 3: the message is shown there, and what was typed stays.
    assert 'id="term_deadline_3-error"' in page
    assert 'value="2027-02-30"' in page and "赔礼道歉。</textarea>" in page
    assert await _draft(app_client, booked.session_id) == before


@pytest.mark.around_local_midnight
async def test_no_more_boxes_than_terms_may_be_kept(app_client: Client, booked: Booked) -> None:
    await login(app_client, "officer")
    terms = {f"term_{n}": f"第{n}条。" for n in range(1, MAX_TERMS + 1)}
    await _save(app_client, booked.session_id, **terms)
    html, _csrf, _version = await _workspace(app_client, booked.session_id)
    assert f'name="term_{MAX_TERMS}"' in html and f'name="term_{MAX_TERMS + 1}"' not in html
    assert len(re.findall(r'name="term_deadline_\d+"', html)) == MAX_TERMS

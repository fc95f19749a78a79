"""A new signing link is made only for a signer of this session's agreement, until it is sealed."""

from __future__ import annotations

import re
from datetime import timedelta

from server.agreements import service
from server.config import Config
from server.db import SessionFactory
from tests.conftest import Client, Seed, csrf_from, login
from tests.http.test_agreement_pages import (
    _freeze,
    _save,
    _sealed,
    _workspace,
    browser_of,
)
from tests.http.test_agreement_pages import app_client as app_client
from tests.http.test_agreement_pages import booked as booked
from tests.http.test_agreement_pages import pki as pki
from tests.http.test_agreement_pages import sealing as sealing
from tests.http.test_door import APPLICANT, Booked, book_session

REISSUE = re.compile(r"/agreement/signers/(\d+)/reissue")


async def _signer_ids(client: Client, session_id: int) -> list[int]:
    html, _csrf, _version = await _workspace(client, session_id)
    return [int(found) for found in REISSUE.findall(html)]


async def _reissue(client: Client, session_id: int, signer_id: int) -> tuple[int, str]:
    page = await client.get(f"/sessions/{session_id}/agreement")
    response = await client.post(
        f"/sessions/{session_id}/agreement/signers/{signer_id}/reissue",
        data={"csrf_token": csrf_from(await page.text())},
    )
    return response.status, await response.text()


async def test_a_signer_of_another_session_is_not_found(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    other = await book_session(factory, seed, config, starts_in=timedelta(hours=3))
    await login(app_client, "officer")
    for session_id in (booked.session_id, other.session_id):
        await _save(app_client, session_id)
    await _freeze(app_client, booked.session_id)
    other_links = await _freeze(app_client, other.session_id)
    theirs = (await _signer_ids(app_client, other.session_id))[0]
    status, html = await _reissue(app_client, booked.session_id, theirs)
    assert status == 404
    assert "/sign/" not in html
    # Their link was not replaced behind their back.
    async with browser_of(app_client) as party:
        page = await party.get(other_links[APPLICANT])
        assert page.status == 200
        await page.read()
    # The same signer through their own session gets a new link.
    status, html = await _reissue(app_client, other.session_id, theirs)
    assert status == 200 and "/sign/" in html


async def _token_hashes(factory: SessionFactory, session_id: int) -> dict[int, str]:
    async with factory() as db:
        draft = await service.draft_of_session(db, session_id)
        assert draft is not None
        return {s.id or 0: s.token_hash for s in await service.signers_of(db, draft.id or 0)}


async def test_a_sealed_agreement_gets_no_new_signing_links(
    app_client: Client, booked: Booked, factory: SessionFactory
) -> None:
    sealed = await _sealed(app_client, booked)
    before = await _token_hashes(factory, booked.session_id)
    for signer_id in before:
        status, html = await _reissue(app_client, booked.session_id, signer_id)
        assert status == 409
        assert "协议已盖章归档，不能再重新发放签名链接。" in html
    assert await _token_hashes(factory, booked.session_id) == before
    async with browser_of(app_client) as party:
        copy = await party.get(sealed.links[APPLICANT] + "/copy.pdf")
        assert copy.status == 200  # the old link still hands out the sealed copy
        assert await copy.read() == sealed.pdf

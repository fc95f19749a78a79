"""Agreement pages show other people's ID numbers masked; a signer sees their own in full."""

from __future__ import annotations

from server.pii import mask_id_number
from tests.conftest import Client, login
from tests.disputes.helpers import ADULT_ID
from tests.http.test_agreement_pages import _draft_id, _freeze, _save, _workspace, browser_of
from tests.http.test_agreement_pages import app_client as app_client
from tests.http.test_agreement_pages import booked as booked
from tests.http.test_agreement_pages import pki as pki
from tests.http.test_agreement_pages import sealing as sealing
from tests.http.test_door import APPLICANT, RESPONDENT, RESPONDENT_ID, Booked


def _text_of(html: str) -> str:
    start = html.index('id="agreement-text"')
    return html[start : html.index("</pre>", start)]


async def test_the_workspace_masks_every_id_number_before_and_after_freezing(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    drafting, _csrf, _version = await _workspace(app_client, booked.session_id)
    await _freeze(app_client, booked.session_id)
    frozen, _csrf, _version = await _workspace(app_client, booked.session_id)
    for html in (drafting, frozen):
        text = _text_of(html)
        assert APPLICANT in text and RESPONDENT in text
        assert mask_id_number(ADULT_ID) in text and mask_id_number(RESPONDENT_ID) in text
        assert ADULT_ID not in html and RESPONDENT_ID not in html


async def test_a_signer_reads_their_own_id_number_and_the_others_masked(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    await _save(app_client, booked.session_id)
    links = await _freeze(app_client, booked.session_id)
    for name, own, other in (
        (APPLICANT, ADULT_ID, RESPONDENT_ID),
        (RESPONDENT, RESPONDENT_ID, ADULT_ID),
    ):
        async with browser_of(app_client) as party:
            page = await party.get(links[name])
            assert page.status == 200
            html = await page.text()
        text = _text_of(html)
        assert own in text, name
        assert other not in html and mask_id_number(other) in text, name
    # The presiding officer signs too, and is no party: every number masked.
    workspace, _csrf, _version = await _workspace(app_client, booked.session_id)
    staff = await app_client.get(f"/agreements/drafts/{_draft_id(workspace)}/sign")
    html = await staff.text()
    assert ADULT_ID not in html and RESPONDENT_ID not in html
    assert mask_id_number(ADULT_ID) in _text_of(html)

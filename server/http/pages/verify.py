"""Public verification: is this PDF a genuine, unaltered agreement of this station?

Anyone may check, with no account: upload the file at ``/verify``, or arrive
from the QR code on its evidence page at ``/verify/{code}``. Two independent
answers are given: the station's digital seal (PAdES, checked by pyHanko in
the worker process against the configured trust roots), and whether the
exact bytes are the ones in the archive (SHA-256). The QR page shows only
what the paper itself already shows, with names masked.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from server.agreements import archive
from server.agreements.rules import TITLES
from server.agreements.verdict import PdfVerdict
from server.errors import N_, LimitExceeded, ValidationFailed
from server.http import render as r
from server.http.middlewares import client_ip
from server.http.pages import door as door_pages
from server.http.pages.common import unit_of_work
from server.http.ratelimit import SlidingWindowLimiter, address_key
from server.i18n import gettext
from server.keys import CONFIG, TZ, WORKS
from server.models import Agreement, Station
from server.pii import mask_name

#: Checks per address and window: verifying costs a worker's time.
MAX_CHECKS = 30
CHECK_WINDOW_SECONDS = 10 * 60
MAX_FILE_BYTES = 1_900_000

CHECKS = web.AppKey("verify_limiter", SlidingWindowLimiter)

#: The verifier's stable problem codes, in words.
PROBLEM_TEXTS: dict[str, str] = {
    "not_a_pdf": N_("The file is not a PDF."),
    "malformed": N_("The file is damaged and cannot be read as a PDF."),
    "no_signature": N_("The file carries no digital seal."),
    "digest_mismatch": N_("The content was changed after it was sealed."),
    "bad_signature": N_("The digital seal does not match the content."),
    "modified_after_signing": N_("Something was added to the file after it was sealed."),
    "untrusted": N_("The seal's certificate is not one this station trusts."),
    "certificate_expired": N_("The seal's certificate had expired."),
    "certificate_not_yet_valid": N_("The seal's certificate was not yet valid."),
    "certificate_revoked": N_("The seal's certificate was revoked."),
    "key_usage": N_("The seal's certificate is not meant for sealing documents."),
    "no_trust_roots": N_("This server has no trusted certificate to check seals against."),
    "trust_root_unreadable": N_("This server's trusted certificate cannot be read."),
    "timestamp_invalid": N_("The seal's timestamp is not valid."),
    "timestamp_untrusted": N_("The seal's timestamp comes from an untrusted authority."),
}
UNKNOWN_PROBLEM = N_("The digital seal could not be confirmed.")


def setup(app: web.Application) -> None:
    app[CHECKS] = SlidingWindowLimiter(MAX_CHECKS, CHECK_WINDOW_SECONDS, max_keys=10_000)


async def _record_context(request: web.Request, agreement: Agreement) -> dict[str, Any]:
    async with unit_of_work(request) as db:
        station = await db.get(Station, agreement.station_id)
        current = await archive.is_current(db, agreement)
    evidence = json.loads(agreement.evidence)
    tz = request.app[TZ]
    signers = [
        {
            "name": mask_name(str(s.get("name", ""))),
            "role": str(s.get("role", "")),
            "at": datetime.fromisoformat(str(s["at"])).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        }
        for s in evidence.get("signers", [])
        if s.get("at")
    ]
    return {
        "agreement": agreement,
        "title": TITLES.get(agreement.legal_track, ""),
        "station": station,
        "current": current,
        "signers": signers,
        "sealed_local": agreement.sealed_at.astimezone(tz),
    }


async def _check(request: web.Request) -> tuple[PdfVerdict | None, str]:
    """Run the verifier on the uploaded file; the second value is a refusal message."""
    limiter = request.app[CHECKS]
    key = address_key(client_ip(request))
    if limiter.blocked(key):
        return None, r.message_of(
            LimitExceeded(
                N_("Too many checks from your network. Try again in %(minutes)d min."),
                params={"minutes": limiter.retry_after_minutes(key)},
            )
        )
    limiter.hit(key)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return None, r.message_of(ValidationFailed(N_("Choose the PDF file to check.")))
    data = upload.file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return None, r.message_of(ValidationFailed(N_("The file is too large.")))
    config = request.app[CONFIG]
    verdict = await request.app[WORKS].verify(data, config.effective_trust_roots)
    return verdict, ""


async def _verdict_context(request: web.Request, verdict: PdfVerdict) -> dict[str, Any]:
    async with unit_of_work(request) as db:
        archived = await archive.by_pdf_hash(db, verdict.sha256)
    record = await _record_context(request, archived) if archived is not None else None
    return {
        "verdict": verdict,
        # Message ids: translated here, so the template prints the reader's language.
        "problems": [gettext(PROBLEM_TEXTS.get(p, UNKNOWN_PROBLEM)) for p in verdict.problems],
        "archived": archived,
        "archived_record": record,
        "signed_local": verdict.signed_at.astimezone(request.app[TZ])
        if verdict.signed_at
        else None,
    }


async def verify_page(request: web.Request) -> web.StreamResponse:
    return r.render(request, "agreements/verify.html", {"lang_next": "/verify"})


async def verify_submit(request: web.Request) -> web.StreamResponse:
    verdict, refusal = await _check(request)
    context: dict[str, Any] = {"lang_next": "/verify", "error": refusal}
    if verdict is not None:
        context.update(await _verdict_context(request, verdict))
    return r.render(request, "agreements/verify.html", context, status=422 if refusal else 200)


async def _by_code(request: web.Request) -> Agreement | web.StreamResponse:
    """The record behind a QR code; wrong codes are refused like wrong invitation links."""
    code = request.match_info["code"]
    return await door_pages.look_up_secret(request, lambda db: archive.by_verify_code(db, code))


async def code_page(request: web.Request) -> web.StreamResponse:
    agreement = await _by_code(request)
    if isinstance(agreement, web.StreamResponse):
        return agreement
    context = {"lang_next": request.path, "record": await _record_context(request, agreement)}
    return r.render(request, "agreements/verify.html", context)


async def code_submit(request: web.Request) -> web.StreamResponse:
    agreement = await _by_code(request)
    if isinstance(agreement, web.StreamResponse):
        return agreement
    verdict, error = await _check(request)
    context: dict[str, Any] = {
        "lang_next": request.path,
        "record": await _record_context(request, agreement),
        "error": error,
    }
    if verdict is not None:
        context.update(await _verdict_context(request, verdict))
        context["matches_record"] = verdict.sha256 == agreement.pdf_sha256
    return r.render(request, "agreements/verify.html", context, status=422 if error else 200)


ROUTES: list[web.RouteDef] = [
    web.get("/verify", verify_page, name="verify"),
    web.post("/verify", verify_submit),
    web.get("/verify/{code}", code_page),
    web.post("/verify/{code}", code_submit),
]

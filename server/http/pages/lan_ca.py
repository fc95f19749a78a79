"""``/ca.crt``: the LAN CA's certificate, for phones to trust during a LAN trial.

Only when ``concord lan-cert`` has made a CA, and only the public certificate:
the file is parsed as a certificate and re-encoded (DER, the encoding the
``application/x-x509-ca-cert`` type names and both Android and iOS install),
so no key can leave through this path whatever lies beside it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.config import LAN_CA_CERT_FILE
from server.keys import CONFIG
from server.lan_cert import CA_DOWNLOAD_NAME, CA_DOWNLOAD_PATH, ca_certificate_der

CONTENT_TYPE = "application/x-x509-ca-cert"


async def ca_certificate(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    der = await asyncio.to_thread(ca_certificate_der, config.lan_tls_dir / LAN_CA_CERT_FILE)
    if der is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=der,
        content_type=CONTENT_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{CA_DOWNLOAD_NAME}"',
            "Cache-Control": "no-cache",
        },
    )


ROUTES = [web.get(CA_DOWNLOAD_PATH, ca_certificate)]

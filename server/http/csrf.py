"""CSRF tokens bound to the browser's session (or pre-login) cookie.

The token is an HMAC of the cookie value, so it needs no storage, changes
with every login, and cannot be forged without the secret. Forms carry it in
a hidden field; the JSON API takes it in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac

from server.pii import derive_key

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CsrfGuard:
    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "csrf")

    def token_for(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def check(self, binding: str | None, presented: str | None) -> bool:
        if not binding or not presented:
            return False
        return hmac.compare_digest(self.token_for(binding), presented)

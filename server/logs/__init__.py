"""Log lines an operator can use: one per event, with the request and room they belong to.

``context`` holds what every line says it belongs to (the request id, the
room's session id), ``redact`` masks personal data and secrets in whatever a
line carries, ``formatting`` turns records into human or JSON lines, and
``setup`` installs all of it on the root logger for ``concord serve``.
"""

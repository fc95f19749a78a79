"""Where a sealed agreement's PDF lies in the archive, and reading it back hash-checked.

Apart from ``archive`` so that what the seal sets off (judicial confirmation
packs the sealed file into the court packet) can read the file without
importing the module that seals.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from server.errors import N_, Conflict, NotFound
from server.models import Agreement


def pdf_path(settings_dir: Path, agreement: Agreement) -> Path:
    path = (settings_dir / agreement.file_name).resolve()
    if settings_dir.resolve() not in path.parents:
        raise NotFound(N_("No such agreement."))
    return path


async def read_pdf(agreements_dir: Path, agreement: Agreement) -> bytes:
    """The archived bytes, refused if they no longer match the recorded hash."""
    data = await asyncio.to_thread(pdf_path(agreements_dir, agreement).read_bytes)
    if hashlib.sha256(data).hexdigest() != agreement.pdf_sha256:
        raise Conflict(N_("The archived file does not match its recorded hash; tell the admin."))
    return data

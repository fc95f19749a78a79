"""The station's seal image (印章), stamped on every agreement it seals: checked and
re-encoded so only pixels are kept, stored in the data directory, audited."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, NotAllowed, ValidationFailed
from server.files import write_atomically
from server.models import Station

MAX_SEAL_IMAGE_BYTES = 2 * 1024 * 1024


def check_seal_image(data: bytes) -> bytes:
    """A PNG of sensible size, re-encoded so only pixels are kept."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValidationFailed(N_("Choose a PNG image of the seal."), fields={"seal": "required"})
    if len(data) > MAX_SEAL_IMAGE_BYTES:
        raise ValidationFailed(N_("The seal image is larger than 2 MB."), fields={"seal": "size"})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValidationFailed(N_("The seal must be a PNG image."), fields={"seal": "type"})
            if min(image.size) < 100 or max(image.size) > 3000:
                raise ValidationFailed(
                    N_("The seal image should be between 100 and 3000 pixels wide."),
                    fields={"seal": "size"},
                )
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValidationFailed(
            N_("The seal must be a PNG image."), fields={"seal": "type"}
        ) from exc
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def set_station_seal(
    db: AsyncSession,
    actor: Actor | None,
    station: Station,
    data: bytes,
    *,
    data_dir: Path,
    sample: bool = False,
) -> Station:
    if actor is not None and not roles.can_manage_seal(actor):
        raise NotAllowed(N_("Only the administrator changes the station's seal."))
    png = await asyncio.to_thread(check_seal_image, data)
    digest = hashlib.sha256(png).hexdigest()
    relative = f"seals/station-{station.id}-{digest[:16]}.png"
    await asyncio.to_thread(write_atomically, data_dir / relative, png)
    station.seal_file = relative
    station.seal_sha256 = digest
    station.seal_is_sample = sample
    record(
        db,
        actor,
        "station.seal_set",
        object_type="station",
        object_id=station.id,
        detail={"sha256": digest, "sample": sample},
        station_id=station.id,
    )
    return station

"""The agreement text as a page shows it: other people's ID numbers masked.

The signed text holds every party's full ID number (it is what the paper
says). A page shows a masked rendering of it, as the dispute pages show a
party's number: the workspace masks all of them (staff reveal a number on
the dispute page, where the reveal is audited), and a signing page masks
all but the signer's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.models import Party
from server.pii import PiiVault, mask_id_numbers_in


def masked_for(
    text: str, parties: Iterable[Party], vault: PiiVault, *, own_party_id: int | None = None
) -> str:
    """``text`` with every party's ID number masked except that of ``own_party_id``."""
    numbers = [
        vault.decrypt(party.id_number_encrypted)
        for party in parties
        if party.id_number_encrypted and (own_party_id is None or party.id != own_party_id)
    ]
    return mask_id_numbers_in(text, numbers)

"""The draw itself: which disputes a spot check samples. Pure, so anyone can repeat it.

Given the population (dispute ids grouped by beat office), the mode and amount
and the stored seed, the sample is always the same: each office's ids are
sorted, shuffled with ``random.Random(seed + office)`` and the first ``k``
taken. Every office that has any resolved dispute gets at least one check,
which is what the reports ask of a station's spot checks (每个警务室至少一件).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from enum import StrEnum

from server.errors import N_, ValidationFailed


class Mode(StrEnum):
    PERCENT = "percent"
    COUNT = "count"


def per_office_counts(sizes: Mapping[int, int], mode: Mode, amount: int) -> dict[int, int]:
    """How many to draw from each office (office id -> count), by the rules above.

    A percentage is rounded up per office. A count is shared out in proportion to
    each office's size (largest remainders), with at least one per office.
    """
    offices = sorted(office for office, size in sizes.items() if size > 0)
    total = sum(sizes[office] for office in offices)
    if total == 0:
        raise ValidationFailed(
            N_("No dispute was resolved in this period: there is nothing to check."),
            fields={"period_start": "empty"},
        )
    if mode == Mode.PERCENT:
        if not 1 <= amount <= 100:
            raise ValidationFailed(
                N_("Give a percentage from 1 to 100."), fields={"amount": "out_of_range"}
            )
        return {office: max(1, math.ceil(sizes[office] * amount / 100)) for office in offices}
    if amount < 1:
        raise ValidationFailed(N_("Draw at least one dispute."), fields={"amount": "out_of_range"})
    if amount > total:
        raise ValidationFailed(
            N_("Only %(total)d disputes were resolved in this period: draw at most that many."),
            params={"total": total},
            fields={"amount": "too_many"},
        )
    if amount < len(offices):
        raise ValidationFailed(
            N_("Draw at least %(offices)d: one for each beat office with resolved disputes."),
            params={"offices": len(offices)},
            fields={"amount": "too_few"},
        )
    counts = {office: 1 for office in offices}
    left = amount - len(offices)
    spare = {office: sizes[office] - 1 for office in offices}
    spare_total = sum(spare.values())
    if left and spare_total:
        shares = {office: left * spare[office] / spare_total for office in offices}
        for office in offices:
            counts[office] += math.floor(shares[office])
        rest = amount - sum(counts.values())
        by_remainder = sorted(
            offices, key=lambda office: (-(shares[office] - math.floor(shares[office])), office)
        )
        for office in by_remainder:
            if rest == 0:
                break
            if counts[office] < sizes[office]:
                counts[office] += 1
                rest -= 1
    return counts


def draw_sample(
    population: Mapping[int, Sequence[int]], mode: Mode, amount: int, seed: str
) -> list[int]:
    """The sampled dispute ids, sorted. ``population`` maps office id -> dispute ids."""
    counts = per_office_counts(
        {office: len(ids) for office, ids in population.items()}, mode, amount
    )
    sample: list[int] = []
    for office, count in sorted(counts.items()):
        ids = sorted(population[office])
        random.Random(f"{seed}:{office}").shuffle(ids)
        sample.extend(ids[:count])
    return sorted(sample)

"""The draw is reproducible, takes one from every office that has any, and keeps its sizes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import ValidationFailed
from server.spotchecks.draw import Mode, draw_sample, per_office_counts

populations = st.dictionaries(
    st.integers(min_value=1, max_value=6),
    st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=40, unique=True),
    min_size=1,
    max_size=5,
).filter(
    # A dispute belongs to one office.
    lambda p: len({i for ids in p.values() for i in ids}) == sum(len(ids) for ids in p.values())
)


@given(populations, st.integers(min_value=1, max_value=100), st.text(min_size=1, max_size=32))
def test_a_percentage_is_rounded_up_per_office_and_repeats_exactly(
    population: dict[int, list[int]], percent: int, seed: str
) -> None:
    sample = draw_sample(population, Mode.PERCENT, percent, seed)
    assert sample == draw_sample(population, Mode.PERCENT, percent, seed)
    for ids in population.values():
        taken = [d for d in sample if d in ids]
        assert len(taken) == max(1, math.ceil(len(ids) * percent / 100))


@given(populations, st.data())
def test_a_count_is_met_exactly_with_one_per_office(
    population: dict[int, list[int]], data: st.DataObject
) -> None:
    total = sum(len(ids) for ids in population.values())
    count = data.draw(st.integers(min_value=len(population), max_value=total))
    sample = draw_sample(population, Mode.COUNT, count, "seed")
    assert len(sample) == count == len(set(sample))
    for ids in population.values():
        assert any(d in ids for d in sample)


def test_another_seed_draws_another_sample() -> None:
    population = {1: list(range(1, 101))}
    samples = {tuple(draw_sample(population, Mode.COUNT, 5, f"s{i}")) for i in range(5)}
    assert len(samples) > 1


def test_the_order_of_the_population_does_not_matter() -> None:
    a = draw_sample({1: [5, 3, 9, 1], 2: [8, 2]}, Mode.PERCENT, 50, "x")
    b = draw_sample({2: [2, 8], 1: [1, 3, 5, 9]}, Mode.PERCENT, 50, "x")
    assert a == b


@pytest.mark.parametrize(
    ("mode", "amount", "field"),
    [
        (Mode.PERCENT, 0, "out_of_range"),
        (Mode.PERCENT, 101, "out_of_range"),
        (Mode.COUNT, 0, "out_of_range"),
        (Mode.COUNT, 7, "too_many"),
        (Mode.COUNT, 1, "too_few"),
    ],
)
def test_bad_amounts_are_refused(mode: Mode, amount: int, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        per_office_counts({1: 3, 2: 3}, mode, amount)
    assert caught.value.fields == {"amount": field}


def test_an_empty_population_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        per_office_counts({}, Mode.PERCENT, 10)
    assert caught.value.fields == {"period_start": "empty"}

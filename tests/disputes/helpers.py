"""Helpers shared by the dispute tests: resident ID numbers and valid inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from server.disputes.schemas import DisputeInput

# GB 11643-1999, written out here independently of server.pii.
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_CHECK = "10X98765432"

#: A valid resident ID (born 1990-03-07).
ADULT_ID = "110101199003074514"


def check_char(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def resident_id(birth: date, area: str = "110101", seq: str = "123") -> str:
    """A resident ID number with a correct check character for ``birth``."""
    body = f"{area}{birth:%Y%m%d}{seq}"
    assert len(body) == 17
    return body + check_char(body)


def wrong_check(number: str) -> str:
    """The same number with a different, wrong check character."""
    right = number[17]
    wrong = next(c for c in _CHECK if c != right)
    return number[:17] + wrong


def years_ago(years: int, today: date | None = None) -> date:
    today = today or date.today()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def dispute_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "养犬扰邻纠纷",
        "category": "neighbour",
        "cause": "犬只夜间吠叫，双方发生推搡",
        "occurred_at": datetime.now(UTC) - timedelta(days=1),
        "place": "滨河小区3栋楼下",
        "scale": 2,
        "trend": "stable",
        "parties": [
            {
                "name": "王丽华",
                "role": "applicant",
                "id_number": ADULT_ID,
                "phone": "13800138001",
            }
        ],
    }
    data.update(overrides)
    return data


def dispute_input(**overrides: Any) -> DisputeInput:
    return DisputeInput.model_validate(dispute_data(**overrides))

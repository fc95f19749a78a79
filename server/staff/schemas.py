"""Inputs for managing offices and accounts."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from server.auth.roles import Role

Name100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Name40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Opt100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Opt200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Opt40 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Opt20 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]

#: A basic people's court (…人民法院) or one of its people's tribunals (…人民法庭).
COURT_SUFFIXES = ("法院", "法庭")
_USERNAME = re.compile(r"^[a-z][a-z0-9_.\-]{2,39}$")


class OfficeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name100
    address: Opt200 = ""
    phone: Opt40 = ""
    active: bool = True
    court_name: Opt100 = Field(default="", description="The basic people's court for 司法确认.")
    court_address: Opt200 = ""

    @field_validator("court_name")
    @classmethod
    def _court_name(cls, value: str) -> str:
        """A court's name: the packet addresses the application to it (此致 ...)."""
        if value and (len(value) < 4 or not value.endswith(COURT_SUFFIXES)):
            raise PydanticCustomError("invalid_court", "not the name of a court")
        return value

    @model_validator(mode="after")
    def _address_needs_court(self) -> OfficeInput:
        if self.court_address and not self.court_name:
            # ``field`` puts the message beside the address (see ``forms._key``).
            raise PydanticCustomError(
                "court_address_without_court",
                "a court address without a court",
                {"field": "court_address"},
            )
        return self


class UserInput(BaseModel):
    """A new account; the password is a first password the person must change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=40)]
    display_name: Name40
    role: Role
    office_id: int | None = Field(default=None, ge=1)
    police_number: Opt20 = ""
    phone: Opt20 = ""
    password: Annotated[str, StringConstraints(max_length=128)]

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USERNAME.match(value):
            raise PydanticCustomError(
                "invalid_username", "3-40 lower-case letters, digits, dot, dash or underscore"
            )
        return value


class UserUpdate(BaseModel):
    """What an admin may change on an existing account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: Name40
    role: Role
    office_id: int | None = Field(default=None, ge=1)
    police_number: Opt20 = ""
    phone: Opt20 = ""
    active: bool = True
    new_password: Annotated[str, StringConstraints(max_length=128)] = ""

"""Translations: Simplified Chinese by default, English on request.

Message ids are English; catalogues are the ``.po`` files under
``web/locale``, read with Babel at start-up (no compiled ``.mo`` files to keep
in step). The language of the current request lives in a context variable,
so templates and Python code share one ``gettext``.
"""

from __future__ import annotations

import gettext as gettext_module
from contextvars import ContextVar
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "web" / "locale"
LANGUAGES = ("zh", "en")
BABEL_LOCALES = {"zh": Locale.parse("zh_Hans_CN"), "en": Locale.parse("en_GB")}
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("concord_language", default="zh")


class Catalogues:
    """One ``GNUTranslations`` per language, loaded once."""

    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self._translations: dict[str, gettext_module.NullTranslations] = {
            "en": gettext_module.NullTranslations()
        }
        for lang in LANGUAGES:
            po_path = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
            if lang == "en" or not po_path.exists():
                continue
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=lang)
            buffer = BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            self._translations[lang] = gettext_module.GNUTranslations(buffer)

    def get(self, lang: str) -> gettext_module.NullTranslations:
        return self._translations.get(lang, self._translations["en"])


_catalogues: ContextVar[Catalogues | None] = ContextVar("concord_catalogues", default=None)


def activate(catalogues: Catalogues, lang: str) -> None:
    """Make ``lang`` the language of the running task (one request)."""
    _catalogues.set(catalogues)
    _current.set(lang if lang in LANGUAGES else "zh")


def current_language() -> str:
    return _current.get()


def gettext(message: str) -> str:
    catalogues = _catalogues.get()
    if catalogues is None:
        return message
    return catalogues.get(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    catalogues = _catalogues.get()
    if catalogues is None:
        return singular if n == 1 else plural
    return catalogues.get(_current.get()).ngettext(singular, plural, n)


_ = gettext


def format_local(value: datetime | None, tz: ZoneInfo, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A stored UTC time as wall-clock time in the station's zone."""
    if value is None:
        return ""
    return format_datetime(
        value.astimezone(tz), fmt, tzinfo=tz, locale=BABEL_LOCALES[_current.get()]
    )

"""The Simplified Chinese catalogue is complete, safe to format, and served.

Message ids are English and the default language is Chinese, so a string that
was added to the code but not to ``web/locale/zh/LC_MESSAGES/messages.po``
shows up in English on a Chinese page. These tests extract the messages afresh
(the same command as ``scripts/i18n-update.sh``) and compare.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from server.i18n import Catalogues

ROOT = Path(__file__).resolve().parent.parent
ZH_PO = ROOT / "web" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"
UPDATE_HINT = "Run scripts/i18n-update.sh and translate the new entries in " + str(
    ZH_PO.relative_to(ROOT)
)
# %(name)s, %(n)d, %(ratio).1f ... as Python's %-formatting reads them.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*(?:\d+)?(?:\.\d+)?[diouxXeEfFgGcrsa]")
Client = TestClient[web.Request, web.Application]
MARKERS = {"N_", "_", "gettext", "ngettext"}
# Strings marked for translation that the extractor cannot see, each with where
# it is: Babel skips a marker nested inside another gettext call's arguments.
KNOWN_UNEXTRACTED: set[str] = set()


def _ids(message: Message) -> tuple[str, ...]:
    value = message.id
    return (value,) if isinstance(value, str) else tuple(value)


def _strings(message: Message) -> tuple[str, ...]:
    value = message.string
    if isinstance(value, str):
        return (value,)
    return tuple(value) if value else ("",)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A fresh extraction into a temporary .pot, exactly as the update script does it."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    command = [
        sys.executable,
        "-m",
        "babel.messages.frontend",
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "N_",
        "--no-location",
        "--sort-output",
        "--project=Concord",
        "-o",
        str(pot),
        ".",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    with pot.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def zh_catalog() -> Catalog:
    assert ZH_PO.exists(), f"{ZH_PO} is missing. {UPDATE_HINT}."
    with ZH_PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def test_every_message_has_a_chinese_translation(extracted: Catalog, zh_catalog: Catalog) -> None:
    missing: list[str] = []
    for message in extracted:
        if not message.id:
            continue
        entry = zh_catalog.get(message.id)
        if entry is None or entry.fuzzy or not all(s.strip() for s in _strings(entry)):
            missing.append(" / ".join(_ids(message)))
    assert not missing, (
        f"{len(missing)} message(s) lack a non-fuzzy Chinese translation. {UPDATE_HINT}:\n  "
        + "\n  ".join(missing)
    )


def test_the_catalogue_has_no_fuzzy_entries(zh_catalog: Catalog) -> None:
    fuzzy = [" / ".join(_ids(m)) for m in zh_catalog if m.id and m.fuzzy]
    assert not fuzzy, "Fuzzy entries are not used at runtime; review them:\n  " + "\n  ".join(fuzzy)


def test_translations_keep_the_placeholders(zh_catalog: Catalog) -> None:
    wrong: list[str] = []
    for message in zh_catalog:
        if not message.id:
            continue
        expected = {m.group(0) for text in _ids(message) for m in PLACEHOLDER.finditer(text)}
        for text in _strings(message):
            if not text:
                continue
            found = {m.group(0) for m in PLACEHOLDER.finditer(text)}
            # Newstyle gettext in Jinja %-formats every string, so a stray "%" breaks a page.
            stray = PLACEHOLDER.sub("", text).replace("%%", "").count("%")
            if found != expected or stray:
                wrong.append(f"{_ids(message)[0]!r} -> {text!r}")
    assert not wrong, "Placeholders differ from the msgid:\n  " + "\n  ".join(wrong)


def _marked_literals() -> dict[str, str]:
    """Every string literal passed straight to N_/_/gettext in server/, with its location."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "server").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if name in MARKERS and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    location = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(first.value, location)
    return found


def test_marked_strings_reach_the_catalogue(extracted: Catalog) -> None:
    """The extractor silently skips some markers; catch those before a user sees English."""
    ids = {_ids(m)[0] for m in extracted if m.id}
    lost = {
        text: where
        for text, where in _marked_literals().items()
        if text not in ids and text not in KNOWN_UNEXTRACTED
    }
    assert not lost, (
        "Marked for translation but not extracted (move the N_() out of the enclosing "
        "gettext call):\n  " + "\n  ".join(f"{where}: {text!r}" for text, where in lost.items())
    )


def test_catalogues_translate_into_chinese() -> None:
    catalogues = Catalogues()
    assert catalogues.get("zh").gettext("Dashboard") == "工作台"
    assert catalogues.get("en").gettext("Dashboard") == "Dashboard"


async def test_login_page_is_chinese_by_default_and_english_on_request(
    client: Client,
) -> None:
    page = await client.get("/login")
    assert page.status == 200
    html = await page.text()
    assert 'lang="zh-CN"' in html
    assert "登录" in html
    assert "Log in" not in html

    switched = await client.get("/lang/en", params={"next": "/login"})
    assert switched.status == 200
    assert switched.url.path == "/login"
    assert [r.status for r in switched.history] == [303]
    assert switched.history[0].cookies["concord_lang"].value == "en"
    assert {c.key: c.value for c in client.session.cookie_jar}.get("concord_lang") == "en"
    html = await switched.text()
    assert 'lang="en"' in html
    assert "Log in" in html
    assert "登录" not in html

    again = await client.get("/login")
    assert "Log in" in await again.text()


async def test_unknown_language_is_not_found(client: Client) -> None:
    response = await client.get("/lang/xx", params={"next": "/login"})
    assert response.status == 404
    assert "concord_lang" not in response.cookies

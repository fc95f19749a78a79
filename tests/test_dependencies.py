"""What server/ imports is declared, what is declared is locked, and the pins agree.

A package that is only there because another one pulls it in can vanish or
change with that other package's next release; ``make run`` and ``make test``
install ``requirements.lock`` (``make lock`` writes it from pyproject.toml).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK = (REPO / "requirements.lock").read_text()
FIRST_PARTY = {"server"}
#: What the media adapter reaches into: pinned exactly, in pyproject.toml and the lock alike.
ADAPTER_PINS = ("aiortc", "aioice", "av", "pylibsrtp")


def _declared(*extras: str) -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _locked() -> dict[str, str]:
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", LOCK, re.MULTILINE)
    }


def _imported_modules(root: Path) -> dict[str, str]:
    """Top-level module name -> one file importing it, for every import under ``root``."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_every_distribution_server_imports_is_declared() -> None:
    runtime = _declared()
    owners = importlib.metadata.packages_distributions()
    undeclared = []
    for module, where in _imported_modules(REPO / "server").items():
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        distributions = owners.get(module)
        assert distributions, f"{where} imports {module!r}, which no installed package provides"
        if not any(canonicalize_name(d) in runtime for d in distributions):
            undeclared.append(f"{module} ({'/'.join(distributions)}, imported in {where})")
    assert not undeclared, (
        "imported by server/ but not in pyproject.toml [project] dependencies: "
        + ", ".join(undeclared)
    )


def test_the_lock_holds_every_declared_requirement_at_an_allowed_version() -> None:
    locked = _locked()
    problems = []
    for name, requirement in _declared("dev", "postgres").items():
        if name not in locked:
            problems.append(f"{name} is not in requirements.lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{name}=={locked[name]} does not satisfy {requirement}")
    assert not problems, "; ".join(problems) + ": run `make lock`"


def test_every_locked_package_carries_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n\n", 1)[-1].strip())
    pinned = [e for e in entries if "==" in e.split("\n", 1)[0]]
    assert pinned
    assert all("--hash=sha256:" in entry for entry in pinned)


def test_what_the_adapter_reaches_into_is_pinned_exactly_and_installed() -> None:
    declared = _declared()
    locked = _locked()
    for name in ADAPTER_PINS:
        specifiers = list(declared[name].specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{name} must be pinned with == in pyproject.toml (server/rooms/aiortc_adapter/ "
            f"uses its internals), not {declared[name].specifier}"
        )
        assert locked[name] == specifiers[0].version, f"{name}: pyproject.toml and lock differ"
        assert importlib.metadata.version(name) == locked[name], (
            f"{name} {importlib.metadata.version(name)} is installed, the lock says "
            f"{locked[name]}: reinstall with `make test` (the .venv is older than the lock)"
        )

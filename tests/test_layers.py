"""The layout tells the architecture: every import of the product keeps to its layer.

Each product file is parsed with `ast`, so imports inside functions and `if TYPE_CHECKING:`
blocks count as much as those at the top. A broken rule is reported as file:line and the
import, e.g. `storage/ledger.py:7: import bot.config`.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("loyalty", "storage", "handlers", "bot", "telegram_emulator")
STDLIB = frozenset(sys.stdlib_module_names)
# The only modules that may import the CLI are the CLI's own.
CLI_MODULES = frozenset({"bot.cli", "bot.cli_commands"})
CLI_FILES = frozenset({"bot/cli.py", "bot/__main__.py", "bot/cli_commands.py"})


@dataclass(frozen=True)
class Import:
    """One import statement's target, as the module it names and where it stands."""

    file: str  # relative to the project root, with forward slashes
    line: int
    module: str  # absolute dotted name, relative imports resolved
    names: tuple[str, ...]  # for `from module import a, b`: ("a", "b"); empty for `import`

    @property
    def top(self) -> str:
        """Return the first part of the dotted name: the package it reaches into."""
        return self.module.split(".")[0]

    @property
    def targets(self) -> tuple[str, ...]:
        """Return every dotted name it may load: `from bot import cli` loads `bot.cli`."""
        return (self.module, *(f"{self.module}.{name}" for name in self.names))

    def __str__(self) -> str:
        statement = (
            f"from {self.module} import {', '.join(self.names)}"
            if self.names
            else f"import {self.module}"
        )
        return f"{self.file}:{self.line}: {statement}"


def module_name(file: str) -> str:
    """Return the dotted module name of a project file, e.g. `bot.api.server`."""
    parts = file.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(file: str, source: str) -> Iterator[Import]:
    """Yield every import in `source`, at any depth, with relative imports made absolute."""
    package = module_name(file).split(".")
    if not file.endswith("__init__.py"):
        package = package[:-1]
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield Import(file, node.lineno, module, tuple(a.name for a in node.names))


@functools.cache
def product_imports() -> list[Import]:
    """Return the imports of every .py file of the product (parsed once per run)."""
    found = []
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            file = path.relative_to(ROOT).as_posix()
            found.extend(imports_of(file, path.read_text(encoding="utf-8")))
    return found


def in_folder(folder: str) -> Callable[[Import], bool]:
    """Select imports made by files under `folder`."""
    return lambda imp: imp.file.startswith(f"{folder}/")


def only(*allowed: str) -> Callable[[Import], bool]:
    """Break the rule unless the import is the standard library or one of `allowed`."""
    return lambda imp: imp.top not in STDLIB and imp.top not in allowed


def none_of(*forbidden: str) -> Callable[[Import], bool]:
    """Break the rule when the import reaches into one of `forbidden`."""
    return lambda imp: imp.top in forbidden


def product_or_private_telegram(imp: Import) -> bool:
    """Break the rule on anything of the product, or a private part of python-telegram-bot."""
    if imp.top in {"bot", "handlers", "storage", "loyalty"}:
        return True
    return imp.top == "telegram" and any(
        part.startswith("_") for target in imp.targets for part in target.split(".")
    )


def imports_the_cli(imp: Import) -> bool:
    """Break the rule when a module outside the CLI imports the CLI."""
    return any(target in CLI_MODULES for target in imp.targets)


@dataclass(frozen=True)
class Rule:
    """Which imports a rule looks at, and which of them break it."""

    name: str
    applies: Callable[[Import], bool]
    breaks: Callable[[Import], bool]

    def violations(self, found: list[Import]) -> list[Import]:
        """Return the imports that break this rule."""
        return [imp for imp in found if self.applies(imp) and self.breaks(imp)]


RULES = {
    rule.name: rule
    for rule in (
        Rule("loyalty: standard library only", in_folder("loyalty"), only("loyalty")),
        Rule(
            "storage: standard library, loyalty, storage, aiosqlite and psycopg only",
            in_folder("storage"),
            only("loyalty", "storage", "aiosqlite", "psycopg", "psycopg_pool"),
        ),
        Rule(
            "handlers: never bot or telegram_emulator",
            in_folder("handlers"),
            none_of("bot", "telegram_emulator"),
        ),
        Rule(
            "telegram_emulator: nothing of the product, no private module of telegram",
            in_folder("telegram_emulator"),
            product_or_private_telegram,
        ),
        Rule(
            "only the CLI imports the CLI",
            lambda imp: imp.file not in CLI_FILES,
            imports_the_cli,
        ),
    )
}


def test_every_layer_has_files_to_check() -> None:
    files = {imp.file.split("/")[0] for imp in product_imports()}
    assert files == set(PRODUCT)


@pytest.mark.parametrize("name", RULES)
def test_the_product_keeps_the_layering(name: str) -> None:
    broken = RULES[name].violations(product_imports())
    assert not broken, f"{name}:\n" + "\n".join(f"  {imp}" for imp in broken)


# Each rule on the import that should break it, and on one it allows, so no rule passes
# because it can no longer fail.
BAD_AND_GOOD = [
    ("loyalty: standard library only", "loyalty/levels.py", "import aiosqlite", "import math"),
    ("loyalty: standard library only", "loyalty/x.py", "from storage import ledger", "import json"),
    (
        "storage: standard library, loyalty, storage, aiosqlite and psycopg only",
        "storage/ledger.py",
        "def f():\n    from handlers.ui import reply",
        "from loyalty.program import Program",
    ),
    (
        "storage: standard library, loyalty, storage, aiosqlite and psycopg only",
        "storage/db.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from telegram import Bot",
        "import aiosqlite",
    ),
    (
        "storage: standard library, loyalty, storage, aiosqlite and psycopg only",
        "storage/db.py",
        "import telegram_emulator",
        "from . import errors",
    ),
    (
        "handlers: never bot or telegram_emulator",
        "handlers/start.py",
        "from bot.config import Config",
        "from storage import links",
    ),
    (
        "handlers: never bot or telegram_emulator",
        "handlers/start.py",
        "import telegram_emulator.people",
        "from telegram.ext import Application",
    ),
    (
        "telegram_emulator: nothing of the product, no private module of telegram",
        "telegram_emulator/http.py",
        "from bot.api.server import bind",
        "import uvicorn",
    ),
    (
        "telegram_emulator: nothing of the product, no private module of telegram",
        "telegram_emulator/request.py",
        "from telegram._utils.types import ODVInput",
        "from telegram.request import BaseRequest",
    ),
    (
        "telegram_emulator: nothing of the product, no private module of telegram",
        "telegram_emulator/request.py",
        "from telegram import _bot",
        "from .methods._common import send_bot_message",
    ),
    (
        "only the CLI imports the CLI",
        "bot/service.py",
        "from bot.cli_commands import open_store",
        "from bot.store import open_store",
    ),
    (
        "only the CLI imports the CLI",
        "bot/api/routes/members.py",
        "from ... import cli",
        "import bot",
    ),
]


@pytest.mark.parametrize(("name", "file", "bad", "good"), BAD_AND_GOOD)
def test_each_rule_can_fail(name: str, file: str, bad: str, good: str) -> None:
    rule = RULES[name]
    broken = rule.violations(list(imports_of(file, bad)))
    assert broken and all(imp.file == file for imp in broken)
    assert rule.violations(list(imports_of(file, good))) == []


def test_the_cli_may_import_itself() -> None:
    rule = RULES["only the CLI imports the CLI"]
    assert rule.violations(list(imports_of("bot/cli.py", "from bot import cli_commands"))) == []


def test_relative_imports_are_resolved() -> None:
    (inner,) = imports_of("bot/api/routes/members.py", "from ..context import api")
    (package,) = imports_of("bot/api/__init__.py", "from . import render")
    assert (inner.module, package.module, package.targets) == (
        "bot.api.context",
        "bot.api",
        ("bot.api", "bot.api.render"),
    )


def test_a_violation_names_the_file_the_line_and_the_import() -> None:
    source = '"""Doc."""\n\nimport math\nfrom aiosqlite import connect, Row\n'
    (found,) = RULES["loyalty: standard library only"].violations(
        list(imports_of("loyalty/rules.py", source))
    )
    assert str(found) == "loyalty/rules.py:4: from aiosqlite import connect, Row"


def test_a_module_the_api_imports_can_be_imported_first() -> None:
    """The connectors use the API's body parser and the API serves the connectors: importing
    a connector module first (a benchmark does) must not meet the API half-initialised."""
    import subprocess
    import sys

    for module in ("bot.connectors.mapping", "bot.api.body", "bot.web.card"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

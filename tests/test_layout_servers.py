"""The servers' imports run one way: protocol <- metaserver <- blockserver, and no server imports the client.

Every import statement of every module counts, also those inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency.

- no module of ``metaserver`` or ``blockserver`` imports ``client``;
- no module of ``metaserver`` imports ``blockserver``, but for ``metaserver.cli``
  (``tessera-server``, the composition root that starts both servers);
- ``metaserver.core`` (what both servers stand on) imports nothing else of ``metaserver``;
- ``blockserver`` imports only ``metaserver.core`` of the metadata server (the role check of a
  grant's namespace is ``metaserver.core.members``);
- ``protocol`` imports neither server nor the client, and no asyncio or aiohttp (it is
  sans-io; ``protocol.fs``, the one part that touches the disk, makes blocking calls only).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "metaserver", "blockserver")


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute name) of everything the file imports; ``from a import b`` gives ``a.b``
    (``b`` may be a module or a name in ``a``: the rules compare by package prefix)."""
    module = _module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                yield node.lineno, source if alias.name == "*" else f"{source}.{alias.name}"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def broken_rule(module: str, imported: str) -> str | None:
    """Why ``module`` may not import ``imported``, or None if it may."""
    if (_within(module, "metaserver") or _within(module, "blockserver")) and _within(imported, "client"):
        return "a server imports the client"
    if _within(module, "metaserver") and not _within(module, "metaserver.cli") and _within(imported, "blockserver"):
        return "only metaserver.cli (tessera-server) may import blockserver"
    if _within(module, "metaserver.core") and _within(imported, "metaserver") and not _within(imported, "metaserver.core"):
        return "metaserver.core imports nothing else of metaserver"
    if _within(module, "blockserver") and _within(imported, "metaserver") and not _within(imported, "metaserver.core"):
        return "blockserver imports only metaserver.core of the metadata server"
    if _within(module, "protocol"):
        if any(_within(imported, p) for p in ("metaserver", "blockserver", "client")):
            return "protocol imports no server and no client"
        if _within(imported, "asyncio") or _within(imported, "aiohttp"):
            return "protocol is sans-io: no asyncio, no aiohttp"
    return None


def violations(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(root, path)
            for line, imported in imported_modules(root, path):
                why = broken_rule(module, imported)
                if why is not None:
                    found.append(f"{path.relative_to(root)}:{line}: {module} imports {imported}: {why}")
    return found


def test_the_servers_import_one_way():
    assert violations(ROOT) == []


def test_the_check_sees_every_kind_of_import(tmp_path):
    """Imports at the top, inside functions, relative and under TYPE_CHECKING are all caught."""
    files = {
        "protocol/__init__.py": "",
        "protocol/codec.py": "import asyncio\n",
        "protocol/fs/__init__.py": "",
        "protocol/fs/flush.py": "def f():\n    from metaserver.core import db\n",
        "metaserver/__init__.py": "",
        "metaserver/core/__init__.py": "",
        "metaserver/core/db.py": "from .. import tree\n",
        "metaserver/tree/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from blockserver import gc\n",
        "metaserver/cli/__init__.py": "",
        "metaserver/cli/runner.py": "def run():\n    from blockserver.app import create_app\n",
        "blockserver/__init__.py": "",
        "blockserver/stores/__init__.py": "",
        "blockserver/stores/local.py": "def put():\n    from client.fs_flush import FlushGroup\n",
        "blockserver/access.py": "from metaserver.core import members\nfrom metaserver.tree import entries\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    assert [v.split(": ", 2)[2] for v in found] == [
        "protocol is sans-io: no asyncio, no aiohttp",  # protocol/codec.py
        "protocol imports no server and no client",  # protocol/fs/flush.py, inside a function
        "metaserver.core imports nothing else of metaserver",  # metaserver/core/db.py, relative
        "only metaserver.cli (tessera-server) may import blockserver",  # under TYPE_CHECKING
        "blockserver imports only metaserver.core of the metadata server",  # blockserver/access.py
        "a server imports the client",  # blockserver/stores/local.py, inside a function
    ]
    assert found[3].startswith("metaserver/tree/__init__.py:3: metaserver.tree imports blockserver.gc")

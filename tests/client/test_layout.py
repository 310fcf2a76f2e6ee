"""The layout of ``client/``: its layers import one way, and no part imports another in a cycle.

The layers, highest first: ``cli`` → ``sync`` → ``transfer`` → ``api`` → ``protocol``. A layer
imports only the layers below it; the modules directly in ``client/`` (besides ``__init__``, the
package's lazy exports, which no client module uses) are below all four. And at every level of the package tree, the parts of a
package (its modules, and its subpackages each taken as one node) import each other without a
cycle. Every import counts: at the top, inside functions, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import client
import protocol

CLIENT = Path(client.__file__).parent
PROTOCOL = Path(protocol.__file__).parent
#: the client's layers, lowest first
LAYERS = ("api", "transfer", "sync", "cli")


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, package: Path) -> Iterator[tuple[str, int]]:
    """Every module that ``path`` imports (absolute names), with the line of the import."""
    name = module_name(path, package)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from package import module`
                yield f"{target}.{alias.name}", node.lineno


def graph(package: Path) -> dict[str, set[tuple[str, int]]]:
    """The imports among the modules of ``package``: module -> {(imported module, line)}."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    out: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for name, path in modules.items():
        for target, line in imports(path, package):
            if target in modules and target != name:
                out[name].add((target, line))
    return out


def layer(module: str) -> int:
    """The rank of a client module: 1 for api up to 4 for cli, 0 below them."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) + 1 if len(parts) > 1 and parts[1] in LAYERS else 0


def test_layers_import_only_downwards():
    wrong = [
        f"{src} (line {line}) imports {dst}"
        for src, targets in graph(CLIENT).items()
        if src != "client"  # the package's lazy exports reach into every layer
        for dst, line in targets
        if layer(dst) > layer(src)
    ]
    assert not wrong, "a lower layer imports a higher one:\n" + "\n".join(sorted(wrong))


def test_no_client_module_takes_the_package_exports():
    """``from client import TesseraClient`` is for users: inside client/ it would hide an import
    of whatever layer the name lives in."""
    modules = {module_name(p, CLIENT) for p in CLIENT.rglob("*.py")}
    wrong = [
        f"{p.relative_to(CLIENT.parent)} (line {node.lineno}) imports {alias.name} from the client package"
        for p in CLIENT.rglob("*.py")
        if p.name != "__init__.py" or p.parent != CLIENT
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "client"
        for alias in node.names
        if f"client.{alias.name}" not in modules
    ]
    assert not wrong, "\n".join(wrong)


def test_protocol_imports_no_client():
    wrong = [
        f"{p.relative_to(PROTOCOL.parent)} (line {line}) imports {target}"
        for p in PROTOCOL.rglob("*.py")
        for target, line in imports(p, PROTOCOL)
        if target == "client" or target.startswith("client.")
    ]
    assert not wrong, "protocol/ imports the client:\n" + "\n".join(wrong)


def sibling_edges(modules: dict[str, set[tuple[str, int]]]) -> dict[str, dict[str, set[str]]]:
    """Per package: its parts (a module, or a subpackage as one node) -> the parts it imports, with
    the import that makes each edge."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for src, targets in modules.items():
        for dst, line in targets:
            a, b = src.split("."), dst.split(".")
            common = 0
            while common < min(len(a), len(b)) - 1 and a[common] == b[common]:
                common += 1
            if common == 0 or a[common] == b[common]:
                continue  # another top-level package, or a module and its own package's __init__
            parent = ".".join(a[:common])
            out[parent][a[common]].add(f"{b[common]}: {src} (line {line}) imports {dst}")
    return out


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph (the nodes along it, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_cycles_between_the_parts_of_any_package():
    problems = []
    for package, parts in sorted(sibling_edges(graph(CLIENT)).items()):
        edges = {src: {why.split(":")[0] for why in whys} for src, whys in parts.items()}
        cycle = find_cycle(edges)
        if cycle:
            hops = [
                next(w for w in sorted(parts[a]) if w.startswith(f"{b}:"))
                for a, b in zip(cycle, cycle[1:], strict=False)
            ]
            problems.append(f"in {package}: {' -> '.join(cycle)}\n  " + "\n  ".join(hops))
    assert not problems, "import cycles:\n" + "\n".join(problems)

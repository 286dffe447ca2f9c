"""The package boundaries, read from the code itself (ast): import direction, cycles, ownership of state.

Every import counts, also one inside a function (a function-level import hides a cycle, it does not
remove it). Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they cannot form a
cycle at run time, and they are how a type annotation may name something above its module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("socialcrm", "connectors", "classifiers")


@dataclass(frozen=True)
class Import:
    """One imported module name, where it was imported."""

    module: str  # the importing module
    target: str  # the imported module, or ``package.module.attribute`` for ``from package.module import attribute``
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(package: str, root: Path = ROOT) -> Iterator[Path]:
    for path in sorted((root / package).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def parse(path: Path) -> ast.Module:
    """The module's syntax tree, parsed once: the package sources are all parsed while pytest collects.

    CPython 3.11 before 3.11.8 keeps the AST builder's recursion depth per interpreter, not per
    thread (python/cpython#106905): a parse while another thread parses (a traceback formatted by a
    thread an earlier test left running parses source lines for its carets) can raise
    ``SystemError: AST constructor recursion depth mismatch``. During collection no test thread runs.
    """
    tree = _TREES.get(path)
    if tree is None:
        tree = _TREES[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return tree


_TREES: dict[Path, ast.Module] = {}
for _package in PACKAGES:
    for _path in source_files(_package):
        parse(_path)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of every node inside an ``if TYPE_CHECKING:`` block."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                hidden.update(id(n) for n in ast.walk(child))
    return hidden


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import the module at ``path`` can run, with relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = parse(path)
    hidden = _type_checking_nodes(tree)
    found: list[Import] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.extend(Import(name, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found.append(Import(name, origin, node.lineno))
            found.extend(Import(name, f"{origin}.{alias.name}", node.lineno) for alias in node.names)
    return found


def internal_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (importing ``a.b.c`` also runs ``a.b``)."""
    modules = {module_name(p, root): p for p in source_files(package, root)}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(path, root):
            target: str | None = imp.target
            while target and target not in modules:  # ``from pkg.mod import attribute`` -> pkg.mod
                target = target.rpartition(".")[0] or None
            while target and target != package:
                if target != name and not name.startswith(target + "."):  # a package's own parents are loaded
                    graph[name].add(target)
                target = target.rpartition(".")[0] or None
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_inside_socialcrm() -> None:
    graph = internal_graph("socialcrm")
    assert len(graph) > 50, "the walk found too few modules to mean anything"
    found = cycles(graph)
    described = [
        " <-> ".join(component)
        + "\n    "
        + "\n    ".join(f"{m} imports {sorted(graph[m] & set(component))}" for m in component)
        for component in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)


def test_the_walk_counts_function_level_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    """The checks here would pass vacuously if the walk missed imports: try it on a package with known cycles."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from pkg import b\nfrom pkg.sub.c import thing\n",
        "b.py": "def late():\n    from pkg.a import something\n",
        "sub/__init__.py": "",
        "sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\nthing = 1\n",
        "d.py": "from . import e\n",
        "e.py": "from .d import y\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    graph = internal_graph("pkg", tmp_path)
    assert graph["pkg.a"] == {"pkg.b", "pkg.sub", "pkg.sub.c"}
    assert graph["pkg.sub.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.d", "pkg.e"]]


def test_connectors_and_classifiers_never_import_socialcrm() -> None:
    offenders = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for package in ("connectors", "classifiers")
        for path in source_files(package)
        for imp in imports_of(path)
        if imp.target == "socialcrm" or imp.target.startswith("socialcrm.")
    ]
    assert not offenders, "\n".join(offenders)


def test_vocabularies_are_spelled_out_once() -> None:
    """Priorities, roles, labels and statuses come from socialcrm.models.vocabulary, never a copied tuple."""
    from socialcrm.models import vocabulary

    words = {
        name: frozenset(value)
        for name, value in vars(vocabulary).items()
        if name.isupper() and isinstance(value, tuple) and len(value) > 2
    }
    assert {"PRIORITIES", "ROLES", "SENTIMENT_LABELS", "TICKET_STATUSES", "DRAFT_STATUSES"} <= set(words)
    home = ROOT / "socialcrm" / "models" / "vocabulary.py"
    copies = []
    for path in source_files("socialcrm"):
        if path == home:
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(values) == len(node.elts) and all(isinstance(v, str) for v in values):
                    copies.extend(
                        f"{module_name(path)}:{node.lineno} repeats {name}"
                        for name, vocabulary_words in words.items()
                        if frozenset(values) == vocabulary_words
                    )
    assert not copies, "\n".join(copies)


def test_classifiers_use_the_same_sentiment_labels() -> None:
    """classifiers/ cannot import socialcrm, so it keeps its own copy; the two must agree."""
    from classifiers.base import LABELS
    from socialcrm.models import SENTIMENT_LABELS

    assert tuple(LABELS) == SENTIMENT_LABELS


def test_source_state_is_written_in_one_module() -> None:
    """Only services/sources.py imports SourceState or assigns the fields that only SourceState has.

    ``state``, ``cursor`` or ``last_error`` are names other objects have too, so the check reads the
    imports (no module but the owner can name the table) and the fields no other table has.
    """
    from socialcrm.models import SourceState
    from socialcrm.models.engine import OutboxItem

    owner = "socialcrm.services.sources"
    only_source_state = (
        set(SourceState.model_fields)
        - {field for model in (OutboxItem,) for field in model.model_fields}
        - {"name", "type", "state", "cursor"}
    )
    assert {"consecutive_failures", "backoff_until", "fetched_total"} <= only_source_state
    offenders = []
    for path in source_files("socialcrm"):
        name = module_name(path)
        if name == owner or name.startswith("socialcrm.models"):
            continue
        offenders.extend(
            f"{name}:{imp.line} imports SourceState" for imp in imports_of(path) if imp.target.endswith(".SourceState")
        )
        for node in ast.walk(parse(path)):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            offenders.extend(
                f"{name}:{node.lineno} assigns .{target.attr}"
                for target in targets
                if isinstance(target, ast.Attribute) and target.attr in only_source_state
            )
    assert not offenders, "\n".join(offenders)


SESSION_WRITES = {"add", "add_all", "delete", "merge", "flush", "commit", "begin_nested", "bulk_save_objects"}
WRITE_STATEMENTS = {"insert", "update", "delete"}


def test_rules_perform_no_database_writes() -> None:
    """rules/ compiles, evaluates and explains; acting on a verdict belongs to socialcrm.services.actions."""
    offenders = []
    for path in source_files("socialcrm/rules"):
        name = module_name(path)
        offenders.extend(
            f"{name}:{imp.line} imports {imp.target}"
            for imp in imports_of(path)
            if imp.target.rpartition(".")[2] in WRITE_STATEMENTS
            and imp.target.split(".")[0] in ("sqlalchemy", "sqlmodel")
        )
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SESSION_WRITES:
                receiver = ast.unparse(node.func.value)
                if "session" in receiver.lower() or node.func.attr not in ("add", "delete", "merge"):  # not set.add()
                    offenders.append(f"{name}:{node.lineno} calls {receiver}.{node.func.attr}()")
    assert len(list(source_files("socialcrm/rules"))) > 5
    assert not offenders, "\n".join(offenders)


def test_socialcrm_imports_no_private_connector_or_classifier_module() -> None:
    """What the core needs of connectors/ (and classifiers/) is their public API, never a ``_module``."""
    offenders = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for path in source_files("socialcrm")
        for imp in imports_of(path)
        if imp.target.split(".")[0] in ("connectors", "classifiers")
        and any(part.startswith("_") for part in imp.target.split(".")[1:2])
    ]
    assert not offenders, "\n".join(offenders)

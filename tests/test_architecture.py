"""The layering, read from the source: index/ is the answering core and knows no chat platform;
each chat library is imported only by its adapter package; the digest is handed posters and
knows no platform; bot/ and bench/ use index/ through its public names; and no two modules
import each other, directly or round a longer loop."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "index", "bench")
CHAT_LIBRARIES = {"discord": "bot.discord", "slack_bolt": "bot.slack", "slack_sdk": "bot.slack"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported(name: str) -> set[str]:
    """Every module ``name`` imports — at the top, inside functions and under TYPE_CHECKING
    alike, since each is a dependency — with relative imports resolved. ``from a import b``
    counts as importing ``a`` and, when it is a module, ``a.b``."""
    path = modules()[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def internal_imports(name: str) -> set[str]:
    return {m for m in imported(name) if m in modules() and m != name}


def top_level_names(name: str) -> set[str]:
    return {m.split(".")[0] for m in imported(name)}


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# --- index/ is the core --------------------------------------------------------------------------


def test_index_imports_no_chat_library():
    forbidden = ("discord", "slack_bolt", "slack_sdk", "bot")
    for path in (ROOT / "index").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_no_model_is_loaded_by_hub_name():
    for path in list((ROOT / "index").rglob("*.py")) + list((ROOT / "bot").rglob("*.py")):
        text = path.read_text()
        assert "sentence-transformers/all-MiniLM" not in text, path


def test_sentence_vectors_are_ranked_in_index_only():
    # Whatever ranks the index's sentence vectors (key points, search) is index logic
    # (index/keypoints.py, index/search.py), not a chat feature's. The benchmarks may read them.
    for name, path in modules().items():
        if not in_package(name, "bot"):
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "sentence_vectors":
                raise AssertionError(f"{name} reads sentence_vectors (line {node.lineno})")


# --- adapters ------------------------------------------------------------------------------------


def test_each_chat_library_is_imported_by_its_adapter_package_only():
    for name in modules():
        for library in top_level_names(name) & set(CHAT_LIBRARIES):
            assert in_package(name, CHAT_LIBRARIES[library]), f"{name} imports {library}"


def test_slack_and_discord_never_import_each_other():
    for name in modules():
        for other in internal_imports(name):
            for a, b in (("bot.slack", "bot.discord"), ("bot.discord", "bot.slack")):
                assert not (in_package(name, a) and in_package(other, b)), f"{name} -> {other}"


def test_the_digest_is_handed_posters_and_knows_no_platform():
    for name, path in modules().items():
        if not in_package(name, "bot.digest"):
            continue
        for other in internal_imports(name):
            assert not in_package(other, "bot.slack") and not in_package(other, "bot.discord"), (
                f"{name} imports {other}: platforms build their posters and hand them over"
            )
        # Nothing is attached to what the scheduler is given for another part to look up.
        for node in ast.walk(tree(path)):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute):
                    owner = target.value
                    assert isinstance(owner, ast.Name) and owner.id in ("self", "cls"), (
                        f"{name} sets {ast.unparse(target)} (line {node.lineno})"
                    )


def test_slash_commands_live_in_their_platform_package():
    for name, path in modules().items():
        text = path.read_text()
        registers = 'command("/' in text or "app_commands.command(" in text
        if registers:
            assert in_package(name, "bot.slack") or in_package(name, "bot.discord"), name


# --- public names only ---------------------------------------------------------------------------


def _private(attribute: str) -> bool:
    return attribute.startswith("_") and not attribute.startswith("__")


@pytest.mark.parametrize("package", ["bot", "bench"])
def test_no_module_reaches_into_another_ones_private_names(package):
    for name, path in modules().items():
        if not in_package(name, package):
            continue
        body = tree(path)
        for node in ast.walk(body):
            if isinstance(node, ast.ImportFrom):
                private = [alias.name for alias in node.names if _private(alias.name)]
                assert not private, f"{name} imports {private} from {node.module}"
        # obj._name, unless obj is self/cls. A module's memo is cleared through the cache's own
        # API (``module._cached.cache_clear()``), which is public.
        cache_clears = {
            id(node.func.value)
            for node in ast.walk(body)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "cache_clear"
        }
        for node in ast.walk(body):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if id(node) in cache_clears:
                continue
            raise AssertionError(f"{name} uses {ast.unparse(node)} (line {node.lineno})")


# --- no cycles -----------------------------------------------------------------------------------


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan): each is a loop of imports."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in graph:
        if node not in order:
            visit(node)
    return cycles


def test_no_import_cycles_between_modules():
    # A package importing its own submodules is not a loop unless a submodule imports it back.
    graph = {name: internal_imports(name) for name in modules()}
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_loop_round_several_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]

"""installer's parts depend on each other in one direction: no import cycle between its modules and
subpackages (installer.inventory, installer.lab, installer.artifacts, ...). Imports inside
functions count; imports only for type checking do not."""

import ast

from tests.paths import ROOT

PACKAGE = ROOT / "installer"
SKIP = {"roles", "playbooks", "ansible_plugins"}  # run inside Ansible, not imported by kinstall


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _type_checking_only(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if SKIP & set(path.relative_to(PACKAGE).parts):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        typing_only = _type_checking_only(tree)
        for node in ast.walk(tree):
            if node.lineno in typing_only if hasattr(node, "lineno") else False:
                continue
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("installer"):
                targets = [node.module] if node.module != "installer" else [f"installer.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("installer.")]
            for target in targets:
                if _part(target) != _part(module):
                    edges.setdefault(_part(module), set()).add(_part(target))
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if state.get(other) == 1:
                return stack[stack.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_installers_parts():
    cycle = _cycle(_edges())
    assert cycle is None, " -> ".join(cycle)


def test_the_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]

"""The package's layout rules (README, "Layout"), checked on the source text.

- No function over 40 lines (from `def` to its last line, docstring included) unless its
  docstring has a line starting "Long because:" that says why it is not split.
- No module over 400 lines.
- Each module's docstring names its layer in its first paragraph: pure, adapter,
  orchestration, glue or entry point (best as the first word: "Pure: ...").
- A subpackage's `__init__.py` holds its docstring and nothing that imports: no re-export
  hubs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "webhook_cert_operator"

MAX_FUNCTION_LINES = 40
MAX_MODULE_LINES = 400
LONG_MARKER = "Long because:"

_LAYER = r"(pure|adapter|orchestration|glue|entry point)"
# Where a layer's name counts: first ("Pure: ..."), in parentheses ("(pure: no I/O)"),
# before a colon ("ACME adapter: ..."), or as a sentence of its own ("... Pure.").
_LAYER_NAMED = re.compile(
    rf"^{_LAYER}\b|\({_LAYER}\b|\b{_LAYER}:|(^|[.:;]\s+){_LAYER}\.", re.IGNORECASE
)


def _modules() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))


def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / module).read_text(), filename=module)


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from `def` (decorators left out) to the function's last line."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def explains_length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the docstring has a line starting "Long because:" with a reason after it."""
    for line in (ast.get_docstring(node) or "").splitlines():
        line = line.strip()
        if line.startswith(LONG_MARKER) and line[len(LONG_MARKER) :].strip():
            return True
    return False


def unexplained_long_functions(module: str) -> list[str]:
    return [
        f"{module}:{node.lineno} {node.name} ({function_lines(node)} lines)"
        for node in _functions(_tree(module))
        if function_lines(node) > MAX_FUNCTION_LINES and not explains_length(node)
    ]


def module_lines(module: str) -> int:
    return len((PACKAGE / module).read_text().splitlines())


def names_layer(docstring: str) -> bool:
    first_paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    return _LAYER_NAMED.search(first_paragraph) is not None


def _is_init(module: str) -> bool:
    return Path(module).name == "__init__.py"


def test_the_package_has_modules_to_check() -> None:
    assert "kube.py" in _modules()


def test_no_function_is_long_without_saying_why() -> None:
    found = [long for module in _modules() for long in unexplained_long_functions(module)]
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} lines: split them along their seams, or say "
        f"why not in a docstring line starting {LONG_MARKER!r}:\n" + "\n".join(found)
    )


def test_no_module_is_over_the_size_limit() -> None:
    large = [
        f"{module} ({module_lines(module)} lines)"
        for module in _modules()
        if module_lines(module) > MAX_MODULE_LINES
    ]
    assert not large, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(large)


def test_each_module_names_its_layer() -> None:
    unnamed = [
        module
        for module in _modules()
        if not _is_init(module) and not names_layer(ast.get_docstring(_tree(module)) or "")
    ]
    assert not unnamed, (
        "start these modules' docstrings with their layer (Pure:, Adapter:, Orchestration:, "
        "Glue: or Entry point:):\n" + "\n".join(unnamed)
    )


def test_package_inits_hold_no_imports() -> None:
    hubs = [
        module
        for module in _modules()
        if _is_init(module)
        and any(isinstance(node, ast.Import | ast.ImportFrom) for node in _tree(module).body)
    ]
    assert not hubs, "an __init__.py is its subpackage's docstring, not a re-export hub: " + (
        ", ".join(hubs)
    )


@pytest.mark.parametrize(
    ("docstring", "named"),
    [
        pytest.param("Pure: names and labels.", True, id="first word"),
        pytest.param("Adapter and entry point: the solver.", True, id="two layers first"),
        pytest.param("Secrets as dicts (pure: no I/O).", True, id="in parentheses"),
        pytest.param("ACME adapter: the only door to a CA.", True, id="before a colon"),
        pytest.param("Judge a chain as a sender does. Pure.\n\nMore.", True, id="own sentence"),
        pytest.param("Keep one endpoint (orchestration).", True, id="orchestration"),
        pytest.param("kopf handlers: call the orchestration, write status.", False, id="a mention"),
        pytest.param("Names.\n\nPure: no I/O.", False, id="not in the first paragraph"),
        pytest.param("", False, id="no docstring"),
    ],
)
def test_a_layer_counts_where_it_names_the_module(docstring: str, named: bool) -> None:
    assert names_layer(docstring) is named


def test_a_long_function_says_why_on_a_marked_line() -> None:
    explained, bare, empty = ast.parse(
        "def a():\n    '''Does a.\n\n    Long because: one table, read top to bottom.'''\n"
        "def b():\n    '''Long, because it is.'''\n"
        "def c():\n    '''Long because:'''\n"
    ).body
    assert isinstance(explained, ast.FunctionDef)
    assert isinstance(bare, ast.FunctionDef)
    assert isinstance(empty, ast.FunctionDef)
    assert explains_length(explained)
    assert not explains_length(bare)
    assert not explains_length(empty)

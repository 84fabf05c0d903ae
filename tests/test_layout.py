"""The package's shape (design.md, "skillkit: a thin package"): every module imports, imports flow one way
with no cycle, no skillkit import hides inside a function, the numpy side stays free of torch, and no
module grows past about 350 lines of code."""
from __future__ import annotations

import ast
import importlib
import io
import tokenize
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "skillkit"
MAX_CODE_LINES = 360
# modules that may import only the bottom layer and each other (numpy and scipy, never torch)
NUMPY_SIDE = {"skillkit.multilinear", "skillkit.variants", "skillkit.extended", "skillkit.theory",
              "skillkit.scaling", "skillkit.zipf", "skillkit._checks", "skillkit.calibrate"}
BOTTOM = {"skillkit._checks", "skillkit.zipf", "skillkit.config"}
ISOLATED = {"skillkit.sweeps", "skillkit.plotting"}          # import no other skillkit module


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The skillkit modules an ``import``/``from`` statement names (a package's submodules included)."""
    if node.level:
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
    return [t for t in targets if t in MODULES]


def _imports(module: str, path: Path):
    """(top-level skillkit imports, skillkit imports inside functions or classes) of one module."""
    tree = ast.parse(path.read_text())
    top, nested = set(), []

    def names(node):
        if isinstance(node, ast.ImportFrom):
            return _resolve(module, path, node)
        if isinstance(node, ast.Import):
            return [a.name for a in node.names if a.name in MODULES]
        return []

    for node in tree.body:
        top.update(names(node))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for inner in ast.walk(node):
                nested += [(node.name, t) for t in names(inner)]
    top.discard(module)
    return {t for t in top if not module.startswith(t + ".")}, nested


GRAPH = {m: _imports(m, p)[0] for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def _cycles(graph: dict) -> list[list[str]]:
    """Every cycle met by a depth-first walk of ``graph`` (node -> set of nodes it imports)."""
    state, stack, cycles = {}, [], []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == "open":
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    """The same walk on a graph with a known cycle, and on the real graph with one edge added."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    broken = {m: set(d) for m, d in GRAPH.items()}
    broken["skillkit._checks"].add("skillkit.train")                 # train -> ... -> _checks -> train
    assert _cycles(broken)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_local_import_of_skillkit(module):
    _, nested = _imports(module, MODULES[module])
    assert not nested, f"{module} imports skillkit modules inside functions: {nested}"


def test_layers():
    for m, deps in GRAPH.items():
        if m in ISOLATED:
            assert not deps, f"{m} must import no other skillkit module, imports {sorted(deps)}"
        if m in BOTTOM:
            assert deps <= BOTTOM, f"{m} is in the bottom layer but imports {sorted(deps - BOTTOM)}"
        if m in NUMPY_SIDE - {"skillkit.calibrate"}:
            assert deps <= NUMPY_SIDE - {"skillkit.calibrate"}, f"{m} (numpy side) imports {sorted(deps)}"
        if m == "skillkit.calibrate":
            allowed = NUMPY_SIDE | {"skillkit.measure"}
            assert deps <= allowed, f"calibrate imports {sorted(deps - allowed)}"
        if not m.startswith("skillkit.experiments"):
            assert not any(d.startswith("skillkit.experiments") for d in deps), f"{m} imports experiments"
    for m, path in MODULES.items():
        if m in NUMPY_SIDE:
            tree = ast.parse(path.read_text())
            mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            mods |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert "torch" not in mods, f"{m} is on the numpy side but imports torch"


def _code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    text = path.read_text()
    doc_lines = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER):
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(code - doc_lines)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable_in_one_sitting(module):
    n = _code_lines(MODULES[module])
    assert n <= MAX_CODE_LINES, f"{module} has {n} lines of code (limit {MAX_CODE_LINES}): split it by job"

"""The shape of the code: short functions in core, no copied blocks in the package (fast, AST only).

- **Function length.** No function or method in ``automux/core/`` is over
  ``MAX_FUNCTION_LINES`` lines, counted from its ``def`` line to the last line of
  its body (decorators not counted; a nested function counts on its own and
  inside its parent).
- **Copied blocks.** No run of ``MIN_COPY_LINES`` or more consecutive code lines
  appears twice in ``automux/`` (in two files, or twice in one file without
  overlapping). Lines are compared normalised: comments dropped, whitespace
  collapsed, blank lines skipped. Not compared: docstrings, import statements,
  and the adapters' *declaration blocks*. A declaration block is what an adapter
  states about itself as data rather than code: in ``automux/adapters/``, every
  assignment directly in a class body (``capabilities = Capabilities(...)``,
  ``environment = Environment(...)``, ``accepted_options``, ``option_rules``, ...)
  and every module-level assignment to an UPPER_CASE name (option and
  estimator tables). Those are meant to look alike from one adapter to the next.
  Also not compared: ``STANDALONE`` files, run as scripts with automux blocked from
  import, which cannot share its helpers.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parents[1] / "automux"
MAX_FUNCTION_LINES = 60
MIN_COPY_LINES = 6

#: Run as a script in a fresh ``python -I`` with automux blocked (a candidate re-fitted without automux).
STANDALONE = ("automux/core/run/_revalidate.py",)
#: Known copies, as ``(path, path)`` pairs, waiting for their owners to share one helper.
#: This list must only shrink: remove a pair once it is gone, never add one.
KNOWN_COPIES: Set[Tuple[str, str]] = set()

#: Functions over the limit that are being split now, with their length when listed.
#: This list must only shrink: remove an entry once its function is short, never add one.
LONG_FUNCTIONS_ALLOWED: Dict[str, int] = {}


def _sources(root: Path) -> Iterator[Tuple[str, str]]:
    base = PACKAGE.parent if root.is_relative_to(PACKAGE.parent) else root
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(base).as_posix(), path.read_text(encoding="utf-8")


def long_functions(root: Path = PACKAGE / "core", limit: int = MAX_FUNCTION_LINES) -> Dict[str, int]:
    """``{"path::qualified.name": lines}`` for every function in ``root`` longer than ``limit`` lines."""
    found: Dict[str, int] = {}

    def visit(node: ast.AST, prefix: str, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > limit:
                        found[f"{where}::{name}"] = lines
                name += "."
            visit(child, name, where)

    for where, text in _sources(root):
        visit(ast.parse(text), "", where)
    return found


def _excluded_lines(tree: ast.Module, declarations: bool) -> Set[int]:
    """Line numbers of docstrings, imports and (in adapters) declaration blocks."""
    spans: List[Tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            spans.append((node.lineno, node.end_lineno))
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                spans.append((body[0].lineno, body[0].end_lineno))
            if declarations and isinstance(node, ast.ClassDef):
                spans += [(s.lineno, s.end_lineno) for s in body if isinstance(s, (ast.Assign, ast.AnnAssign))]
    if declarations:
        for s in tree.body:
            targets = s.targets if isinstance(s, ast.Assign) else [s.target] if isinstance(s, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id.isupper() for t in targets):
                spans.append((s.lineno, s.end_lineno))
    return {n for a, b in spans for n in range(a, b + 1)}


def code_lines(text: str, declarations: bool = False) -> List[Tuple[int, str]]:
    """``(line number, normalised text)`` of every line compared for copies (see the module docstring)."""
    kept: Dict[int, List[str]] = defaultdict(list)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENDMARKER):
            continue
        for n, piece in enumerate(tok.string.split("\n")):  # a multi-line string spans lines
            if piece.strip():
                kept[tok.start[0] + n].append(piece.strip())
    skip = _excluded_lines(ast.parse(text), declarations)
    return [(n, re.sub(r"\s+", " ", " ".join(parts))) for n, parts in sorted(kept.items()) if n not in skip]


def copied_blocks(root: Path = PACKAGE, size: int = MIN_COPY_LINES) -> List[str]:
    """Each run of ``size``+ normalised code lines found in two places, as ``path:line <-> path:line (n lines)``."""
    seen: Dict[Tuple[str, ...], List[Tuple[str, int, int]]] = defaultdict(list)
    for where, text in _sources(root):
        if where in STANDALONE:
            continue
        lines = code_lines(text, declarations=where.startswith("automux/adapters/"))
        for i in range(len(lines) - size + 1):
            seen[tuple(t for _, t in lines[i:i + size])].append((where, i, lines[i][0]))
    pairs: Dict[Tuple[str, str], List[Tuple[int, int, int, int]]] = defaultdict(list)
    for places in seen.values():
        first = places[0]
        for other in places[1:]:
            if other[0] == first[0] and other[1] - first[1] < size:
                continue  # the same lines, or a block overlapping itself
            pairs[(first[0], other[0])].append((first[1], other[1], first[2], other[2]))
    found = []
    for (a, b), hits in sorted(pairs.items()):
        hits.sort()
        start = prev = hits[0]
        for hit in hits[1:] + [None]:  # merge windows that continue one another into one block
            if hit is not None and hit[0] == prev[0] + 1 and hit[1] == prev[1] + 1:
                prev = hit
                continue
            found.append(f"{a}:{start[2]} <-> {b}:{start[3]} ({prev[0] - start[0] + size} lines)")
            start = prev = hit
    return found


def test_no_function_in_core_is_over_the_limit():
    found = long_functions()
    over = {k: v for k, v in found.items() if k not in LONG_FUNCTIONS_ALLOWED or v > LONG_FUNCTIONS_ALLOWED[k]}
    assert not over, (f"functions in automux/core over {MAX_FUNCTION_LINES} lines (split them into named steps): "
                      + ", ".join(f"{k} ({v})" for k, v in sorted(over.items())))
    fixed = sorted(set(LONG_FUNCTIONS_ALLOWED) - set(found))
    assert not fixed, f"now short: remove from LONG_FUNCTIONS_ALLOWED: {', '.join(fixed)}"


def test_no_block_of_code_is_copied_in_the_package():
    found = copied_blocks()
    new = [f for f in found if tuple(f.split(":")[0] for f in f.split(" <-> ")) not in KNOWN_COPIES]
    assert not new, (f"{len(new)} blocks of {MIN_COPY_LINES}+ lines appear twice (share one helper):\n"
                     + "\n".join(new))
    gone = KNOWN_COPIES - {tuple(f.split(":")[0] for f in f.split(" <-> ")) for f in found}
    assert not gone, f"no longer copied: remove from KNOWN_COPIES: {sorted(gone)}"


def test_the_checks_catch_a_long_function_and_a_copied_block(tmp_path):
    body = "".join(f"    x{i} = {i} * y\n" for i in range(MIN_COPY_LINES))
    (tmp_path / "a.py").write_text('"""Doc."""\nimport os\n\n\ndef f(y):\n' + body + "    return x0\n")
    (tmp_path / "b.py").write_text("def g(y):\n    # a comment\n\n" + body.replace(" * ", "  *  ")
                                   + "    return x1\n")
    (tmp_path / "c.py").write_text("def h():\n" + "".join(f"    h{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1)))
    (tmp_path / "d.py").write_text("def k():\n" + "".join(f"    k{i} = {i}\n" for i in range(MAX_FUNCTION_LINES)))
    assert len(copied_blocks(tmp_path)) == 1 and "(6 lines)" in copied_blocks(tmp_path)[0]
    assert long_functions(tmp_path) == {"d.py::k": MAX_FUNCTION_LINES + 1}

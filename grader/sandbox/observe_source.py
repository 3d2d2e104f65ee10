"""The part of a tests file that may enter the student's process.

A tests file holds observe functions (run in the sandbox) and judge functions (run in
the grader's process, possibly holding expected values). Before a tests file reaches
a sandbox it is cut down, statically, to what the observe functions need: the judge
functions, and every module-level statement that no observe function reaches
(directly or through helpers and constants it uses), are blanked out. Line numbers
are kept. The file itself is never opened in the sandbox (Landlock forbids it), and
its full text never enters that process, not even in freed memory.
"""

from __future__ import annotations

import ast


def _decorator_attr(node: ast.stmt) -> set[str]:
    out = set()
    for d in getattr(node, "decorator_list", []):
        f = d.func if isinstance(d, ast.Call) else d
        if isinstance(f, ast.Attribute):
            out.add(f.attr)
    return out


def _defines(node: ast.stmt) -> set[str]:
    names: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for a in node.names:
            names.add((a.asname or a.name).split(".")[0])
    else:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                names.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                for a in sub.names:
                    names.add((a.asname or a.name).split(".")[0])
    return names


def _uses(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _registers_observe(node: ast.stmt) -> bool:
    """``suite.observe("t")(fn)`` written as a statement."""
    if not isinstance(node, ast.Expr):
        return False
    attrs = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return "observe" in attrs and "judge" not in attrs


def child_source(text: str) -> str:
    """The tests file with everything but the observe side blanked out."""
    tree = ast.parse(text)
    body = tree.body
    keep: set[int] = set()
    needed: set[str] = set()
    for i, node in enumerate(body):
        attrs = _decorator_attr(node)
        if "judge" in attrs:
            continue
        if "observe" in attrs or _registers_observe(node):
            keep.add(i)
            needed |= _uses(node)
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            keep.add(i)
    changed = True
    while changed:
        changed = False
        for i, node in enumerate(body):
            if i in keep or "judge" in _decorator_attr(node):
                continue
            if _defines(node) & needed:
                keep.add(i)
                needed |= _uses(node)
                changed = True
    lines = text.splitlines(keepends=True)
    blank = [False] * len(lines)
    kept_lines: set[int] = set()
    for i, node in enumerate(body):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last = node.end_lineno or node.lineno
        rng = range(first - 1, last)
        if i in keep:
            kept_lines.update(rng)
        else:
            for j in rng:
                blank[j] = True
    out = []
    for j, line in enumerate(lines):
        if blank[j] and j not in kept_lines:
            out.append("\n")
        else:
            out.append(line)
    return "".join(out)

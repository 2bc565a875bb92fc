#!/usr/bin/env python3
"""Structure figures for docs/decisions.md: how typed, how pure, how small the tree is.

Issue 16 asked that the before and after of the structure work be measured, not
asserted. This script reads a tree (the working tree, or a git revision with
``--rev``) and prints, as JSON:

- ``dict_any_signatures``: parameters and returns outside ``shoal/api`` annotated
  ``dict[str, Any]`` or with a module-level alias of it (``Obj = dict[str, Any]``);
- ``obj_aliases``: how many modules define such an alias;
- ``any_per_kloc``: occurrences of the name ``Any`` per 1,000 lines, by package;
- ``get_or_empty_chains``: ``(x.get("...") or {})`` expressions outside ``shoal/api``;
- ``long_functions``: functions over 60 lines, in ``shoal``;
- ``test_sleeps``: ``asyncio.sleep`` and ``time.sleep`` calls in ``tests``.

Usage: ``python scripts/structure_metrics.py [--rev REV]``.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

CHAIN = re.compile(r"\(\s*[\w.\[\]\"']+\.get\([^()]*\)\s+or\s+\{\}\s*\)")


def _files(root: Path, rev: str | None, prefix: str) -> dict[str, str]:
    if rev is None:
        return {str(p.relative_to(root)): p.read_text() for p in (root / prefix).rglob("*.py")}
    names = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", "--name-only", rev, prefix],
                           capture_output=True, text=True, check=True).stdout.split()
    return {n: subprocess.run(["git", "-C", str(root), "show", f"{rev}:{n}"], capture_output=True,
                              text=True, check=True).stdout for n in names if n.endswith(".py")}


def _is_dict_any(node: ast.expr | None, aliases: set[str]) -> bool:
    if node is None:
        return False
    text = ast.unparse(node)
    return "dict[str, Any]" in text or any(re.search(rf"\b{a}\b", text) for a in aliases)


def _aliases(tree: ast.Module) -> set[str]:
    out = set()
    for st in tree.body:
        if (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
                and ast.unparse(st.value) == "dict[str, Any]"):
            out.add(st.targets[0].id)
    return out


def measure(root: Path, rev: str | None) -> dict[str, object]:
    shoal = _files(root, rev, "shoal")
    tests = _files(root, rev, "tests")
    dict_any = alias_modules = chains = 0
    long_functions: list[str] = []
    any_count: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for name, text in shoal.items():
        package = name.split("/")[1] if name.count("/") > 1 else "(top)"
        lines[package] += text.count("\n") + 1
        any_count[package] += len(re.findall(r"\bAny\b", text))
        tree = ast.parse(text)
        outside_api = not name.startswith("shoal/api/")
        aliases = _aliases(tree)
        if aliases:
            alias_modules += 1
        if outside_api:
            chains += len(CHAIN.findall(text))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{name}:{node.name}:{length}")
                if outside_api:
                    args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                    dict_any += sum(_is_dict_any(a.annotation, aliases) for a in args)
                    dict_any += _is_dict_any(node.returns, aliases)
    sleeps = sum(len(re.findall(r"\b(?:asyncio|time)\.sleep\(", t)) for t in tests.values())
    return {
        "dict_any_signatures": dict_any,
        "obj_aliases": alias_modules,
        "any_per_kloc": {p: round(1000 * any_count[p] / lines[p], 1) for p in sorted(lines)},
        "get_or_empty_chains": chains,
        "long_functions": len(long_functions),
        "long_function_names": sorted(long_functions),
        "test_sleeps": sleeps,
        "lines": dict(sorted(lines.items())),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="a git revision to measure instead of the working tree")
    ap.add_argument("--names", action="store_true", help="list the long functions too")
    args = ap.parse_args()
    out = measure(Path(__file__).resolve().parent.parent, args.rev)
    if not args.names:
        out.pop("long_function_names")
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

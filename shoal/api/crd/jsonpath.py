"""The JSONPath subset CRDs use: printer columns and the scale subresource's paths.

Upstream accepts, for ``additionalPrinterColumns[].jsonPath``, a "simple" path
of fields and indexes (``.spec.replicas``, ``.status.conditions[0].type``,
``.metadata.labels['app\\.kubernetes\\.io/name']``) and the filter kubectl users
write for conditions (``.status.conditions[?(@.type=="Ready")].status``); the
scale subresource takes plain field paths under ``.spec`` / ``.status``.
``parse`` compiles such a path once (per CRD version) to a tuple of steps, and
``find`` returns the values it reaches in an object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class JSONPathError(ValueError):
    """Not a path of the supported subset."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    i: int


@dataclass(frozen=True, slots=True)
class Wildcard:
    pass


@dataclass(frozen=True, slots=True)
class Filter:
    """``[?(@.a.b=="v")]``: the items whose field equals a literal."""

    fields: tuple[str, ...]
    op: str  # == or !=
    value: Any


Step = Field | Index | Wildcard | Filter

_FIELD = re.compile(r"\.([A-Za-z0-9_$-]+)")
_INDEX = re.compile(r"\[(-?\d+)\]")
_QUOTED = re.compile(r"\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]")
_FILTER = re.compile(r"\[\?\(\s*@((?:\.[A-Za-z0-9_$-]+)+)\s*(==|!=)\s*(\"[^\"]*\"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\s*\)\]")


def parse(path: str) -> tuple[Step, ...]:
    """The steps of ``path`` (``{...}`` braces allowed around it, as kubectl writes templates)."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text.startswith("."):
        raise JSONPathError("must be a simple json path starting with .")
    steps: list[Step] = []
    i = 0
    while i < len(text):
        m = _FIELD.match(text, i)
        if m:
            steps.append(Field(m.group(1)))
            i = m.end()
            continue
        if text.startswith("[*]", i):
            steps.append(Wildcard())
            i += 3
            continue
        m = _INDEX.match(text, i)
        if m:
            steps.append(Index(int(m.group(1))))
            i = m.end()
            continue
        m = _QUOTED.match(text, i)
        if m:
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            steps.append(Field(re.sub(r"\\(.)", r"\1", raw)))
            i = m.end()
            continue
        m = _FILTER.match(text, i)
        if m:
            lit = m.group(3)
            value: Any
            if lit[0] in "\"'":
                value = lit[1:-1]
            elif lit in ("true", "false"):
                value = lit == "true"
            else:
                value = float(lit) if "." in lit else int(lit)
            steps.append(Filter(tuple(m.group(1).split(".")[1:]), m.group(2), value))
            i = m.end()
            continue
        raise JSONPathError(f"unexpected {text[i:i + 10]!r} at position {i}")
    if not steps:
        raise JSONPathError("must be a simple json path starting with .")
    return tuple(steps)


def find(obj: Any, steps: tuple[Step, ...]) -> list[Any]:
    """Every value ``steps`` reach in ``obj`` (in document order)."""
    current = [obj]
    for step in steps:
        nxt: list[Any] = []
        for v in current:
            if isinstance(step, Field):
                if isinstance(v, dict) and step.name in v:
                    nxt.append(v[step.name])
            elif isinstance(step, Index):
                if isinstance(v, list) and -len(v) <= step.i < len(v):
                    nxt.append(v[step.i])
            elif isinstance(step, Wildcard):
                if isinstance(v, list):
                    nxt.extend(v)
                elif isinstance(v, dict):
                    nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(item for item in v if _matches(item, step))
        current = nxt
    return current


def _matches(item: Any, f: Filter) -> bool:
    v = item
    for name in f.fields:
        if not isinstance(v, dict) or name not in v:
            return False
        v = v[name]
    return bool(v == f.value) if f.op == "==" else bool(v != f.value)


def field_path(steps: tuple[Step, ...]) -> tuple[str, ...] | None:
    """The field names of a path made of fields only (what the scale subresource needs), else None."""
    out: list[str] = []
    for s in steps:
        if not isinstance(s, Field):
            return None
        out.append(s.name)
    return tuple(out)

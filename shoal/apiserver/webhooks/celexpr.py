"""CEL for admission: one compiled program per expression text, run over JSON values.

The same library the CRD rules run on (``common-expression-language``). A
webhook's ``matchConditions`` and a policy's expressions see the variables
upstream provides, as plain JSON: ``object``, ``oldObject`` (null where there
is none), ``request`` (the AdmissionRequest), and for policies ``params``,
``namespaceObject`` and ``variables``. ``authorizer`` is not provided: an
expression that uses it fails to evaluate, and the failure policy decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cel

from shoal.api.memo import Memo


class EvalError(Exception):
    """An expression that could not be evaluated (or compiled)."""


@dataclass(frozen=True, slots=True)
class Expr:
    text: str
    program: cel.Program | None
    error: str = ""  # why it did not compile


_compiled: Memo[str, Expr] = Memo(1024)


def compile_expr(text: str) -> Expr:
    hit = _compiled.get(text)
    if hit is not None:
        return hit
    try:
        expr = Expr(text, cel.compile(text))
    except Exception as e:  # the library raises ValueError on a parse error
        expr = Expr(text, None, str(e).splitlines()[0])
    _compiled.put(text, expr)
    return expr


def run(expr: Expr, context: dict[str, Any]) -> Any:
    if expr.program is None:
        raise EvalError(f"compilation failed: {expr.error}")
    try:
        return expr.program.execute(context)
    except KeyError as e:
        raise EvalError(f"no such key: {e.args[0] if e.args else e}") from None
    except Exception as e:  # a runtime error of the expression (no such overload, division by zero...)
        raise EvalError(str(e) or type(e).__name__) from None


def run_bool(expr: Expr, context: dict[str, Any]) -> bool:
    out = run(expr, context)
    if not isinstance(out, bool):
        raise EvalError(f"expression '{expr.text}' must evaluate to bool")
    return out

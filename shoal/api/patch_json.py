"""JSON Patch (RFC 6902) and JSON Pointer (RFC 6901) over plain JSON values.

``kubectl rollout undo`` and ``kubectl patch --type=json`` send these. The
operations work in place on a document the caller already owns (``apply_patch``
hands in a deep copy), so a long patch costs no copying per operation; values
taken from the patch or copied inside the document are copied, so the result
never shares a container with the patch or with itself.

Errors name the operation's index, its kind and the pointer, e.g.
``json patch operation 2 (test): value at /spec/replicas is 3, expected 2``.
"""

from __future__ import annotations

import re
from typing import Any

from shoal.api.patch_errors import PatchError, PatchTestFailed

__all__ = ["apply_json_patch", "parse_pointer", "json_equal", "copy_json"]

_INDEX = re.compile(r"0|[1-9][0-9]*")
_OPS = ("add", "remove", "replace", "move", "copy", "test")


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars); faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``1 == 1.0`` but ``true != 1``; objects ignore key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return False
        return all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def parse_pointer(pointer: Any) -> list[str]:
    """Split a JSON Pointer into unescaped tokens; ``""`` is the whole document."""
    if not isinstance(pointer, str):
        raise PatchError(f"path must be a string, got {_kind(pointer)}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}: must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise PatchError(f"invalid JSON pointer {pointer!r}: '~' must be followed by 0 or 1")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def apply_json_patch(doc: Any, operations: Any) -> Any:
    """Apply RFC 6902 ``operations`` to ``doc`` (mutated in place) and return the result."""
    if not isinstance(operations, list):
        raise PatchError(f"json patch must be a JSON array of operations, got {_kind(operations)}")
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise PatchError(
                f"json patch operation {index} must be an object, got {_kind(operation)}"
            )
        op = operation.get("op")
        if op not in _OPS:
            raise PatchError(
                f"json patch operation {index}: unknown op {op!r} "
                f"(expected one of {', '.join(_OPS)})"
            )
        try:
            doc = _apply_one(doc, op, operation)
        except PatchError as exc:
            # whatever stops a ``test`` (a different value, a missing path) is the test failing
            failed = PatchTestFailed if op == "test" else type(exc)
            raise failed(f"json patch operation {index} ({op}): {exc}") from None
    return doc


def _apply_one(doc: Any, op: str, operation: dict[str, Any]) -> Any:
    if "path" not in operation:
        raise PatchError("missing 'path'")
    path = operation["path"]
    tokens = parse_pointer(path)
    if op in ("add", "replace", "test") and "value" not in operation:
        raise PatchError(f"missing 'value' for {path}")
    if op == "add":
        return _add(doc, tokens, copy_json(operation["value"]), path)
    if op == "remove":
        _remove(doc, tokens, path)
        return doc
    if op == "replace":
        return _replace(doc, tokens, copy_json(operation["value"]), path)
    if op == "test":
        current = _get(doc, tokens, path)
        if not json_equal(current, operation["value"]):
            raise PatchTestFailed(
                f"test failed: value at {path or '/'} is {current!r}, expected {operation['value']!r}"
            )
        return doc
    # move and copy
    if "from" not in operation:
        raise PatchError("missing 'from'")
    source = operation["from"]
    from_tokens = parse_pointer(source)
    value = _get(doc, from_tokens, source)
    if op == "move":
        if tokens[: len(from_tokens)] == from_tokens and len(tokens) > len(from_tokens):
            raise PatchError(f"cannot move {source} into its own child {path}")
        if tokens == from_tokens:
            return doc
        _remove(doc, from_tokens, source)
        return _add(doc, tokens, value, path)
    return _add(doc, tokens, copy_json(value), path)


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    """The container holding the last token, which must exist."""
    return _get(doc, tokens[:-1], path)


def _get(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for depth, token in enumerate(tokens):
        where = "/" + "/".join(_escape(t) for t in tokens[: depth + 1])
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {path} not found: no key {token!r} at {where}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), path, allow_end=False)]
        else:
            raise PatchError(f"path {path} not found: {_kind(node)} at {where} has no children")
    return node


def _add(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(_index(last, len(parent), path, allow_end=True), value)
    else:
        raise PatchError(f"cannot add {path}: parent is {_kind(parent)}, not an object or array")
    return doc


def _remove(doc: Any, tokens: list[str], path: str) -> None:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path} not found: no key {last!r}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent), path, allow_end=False)]
    else:
        raise PatchError(f"path {path} not found: parent is {_kind(parent)}")


def _replace(doc: Any, tokens: list[str], value: Any, path: str) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path} not found: no key {last!r} to replace")
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), path, allow_end=False)] = value
    else:
        raise PatchError(f"path {path} not found: parent is {_kind(parent)}")
    return doc


def _index(token: str, length: int, path: str, *, allow_end: bool) -> int:
    if token == "-":
        if allow_end:
            return length
        raise PatchError(f"path {path}: '-' names no existing array element")
    if not _INDEX.fullmatch(token):
        raise PatchError(f"path {path}: {token!r} is not a valid array index")
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise PatchError(f"path {path} not found: index {index} out of range (length {length})")
    return index


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__

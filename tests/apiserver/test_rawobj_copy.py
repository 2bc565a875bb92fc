"""rawobj.copy_json: a deep copy of decoded JSON that shares nothing mutable with the original."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shoal.apiserver.rawobj import copy_json


def test_equal_and_independent() -> None:
    src: dict[str, Any] = {"a": [1, {"b": [True, None, 1.5, "x"]}], "m": {"n": {}}, "e": []}
    out = copy_json(src)
    assert out == src
    out["a"][1]["b"].append("new")
    out["m"]["n"]["k"] = 1
    out["e"].append(0)
    assert src == {"a": [1, {"b": [True, None, 1.5, "x"]}], "m": {"n": {}}, "e": []}


def test_scalars_and_other_types() -> None:
    assert copy_json(5) == 5 and copy_json("s") == "s" and copy_json(None) is None
    when = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)  # YAML bodies may carry datetimes
    box = {"t": when, "s": {1, 2}}
    out = copy_json(box)
    assert out == box
    assert out["s"] is not box["s"]  # a set (not JSON) is deep-copied all the same

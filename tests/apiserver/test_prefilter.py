"""Byte needles of label selectors: never refuse an object the selector matches; skip decoding the others."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.api import selectors
from shoal.apiserver.handlers import Matcher
from shoal.apiserver.prefilter import label_needles, may_match
from shoal.apiserver.watchcache import Event, Watcher


@pytest.mark.parametrize(("selector", "needles"), [
    ("app=web", (b'"web"',)),
    ("app==web,tier in (db)", (b'"web"', b'"db"')),
    ("app.kubernetes.io/managed-by=shoal-ecs,ecs.shoal.io/standalone=true", (b'"shoal-ecs"', b'"true"')),
    ("app in (a,b)", ()),       # two values: neither is required
    ("app!=web", ()),           # refusing a value requires nothing
    ("app", ()),                # a key: its bytes could be escaped ("/" as "\\/"), so no needle
    ("!app", ()),
    ("app=", ()),               # the empty value: nothing worth searching
])
def test_needles_of_a_selector(selector: str, needles: tuple[bytes, ...]) -> None:
    assert label_needles(selectors.parse_selector(selector)) == needles


def test_no_selector_no_needles() -> None:
    assert label_needles(None) == ()
    assert Matcher(None, selectors.parse_field_selector("spec.nodeName=n1")).needles == ()


def _pod(labels: dict[str, str], **extra: str) -> bytes:
    return msgspec.json.encode({"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": "p", "labels": labels, "annotations": extra}})


def test_may_match() -> None:
    needles = label_needles(selectors.parse_selector("a=x,b=y"))
    assert may_match(needles, _pod({"a": "x", "b": "y"}))
    assert not may_match(needles, _pod({"a": "x"}))
    # the converse does not hold: another field's value lets it through, and the selector decides
    assert may_match(needles, _pod({"a": "x"}, note="y"))


_label_value = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_labels = st.dictionaries(st.sampled_from(["a", "b", "app.kubernetes.io/name"]), _label_value, max_size=3)
_selector = st.lists(st.tuples(st.sampled_from(["a", "b", "app.kubernetes.io/name"]),
                               st.sampled_from(["=", "==", "!=", "in", "notin"]), _label_value),
                     min_size=1, max_size=3)


@given(labels=_labels, reqs=_selector)
def test_needles_never_refuse_a_match(labels: dict[str, str], reqs: list[tuple[str, str, str]]) -> None:
    text = ",".join(f"{k} {op} ({v})" if op in ("in", "notin") else f"{k}{op}{v}" for k, op, v in reqs)
    sel = selectors.parse_selector(text)
    if sel.matches(labels):
        assert may_match(label_needles(sel), _pod(labels))


def _offer(w: Watcher, ev: Event) -> list[tuple[str, bool]]:
    w.offer(ev)
    out = []
    while not w.queue.empty():
        got = w.queue.get_nowait()
        assert got is not None
        out.append((got.type, got._obj is not None))
    return out


def test_watcher_refuses_without_decoding_and_sends_the_transitions() -> None:
    m = Matcher(selectors.parse_selector("app=web"), None)
    w = Watcher("/registry/pods/", m, needles=m.needles)
    other = Event("ADDED", 2, "/registry/pods/ns/p", _pod({"app": "db"}))
    assert _offer(w, other) == [] and other._obj is None  # refused on its bytes: never decoded
    mine = Event("ADDED", 3, "/registry/pods/ns/q", _pod({"app": "web"}))
    assert _offer(w, mine) == [("ADDED", True)]
    # a pod that stops matching is sent as DELETED: its old bytes have the needle, so it is decoded
    left = Event("MODIFIED", 4, "/registry/pods/ns/q", _pod({"app": "db"}), prev_raw=_pod({"app": "web"}))
    assert _offer(w, left) == [("DELETED", True)]
    came = Event("MODIFIED", 5, "/registry/pods/ns/p", _pod({"app": "web"}), prev_raw=_pod({"app": "db"}))
    assert _offer(w, came) == [("ADDED", True)]
    gone = Event("DELETED", 6, "/registry/pods/ns/r", _pod({"app": "db"}))
    assert _offer(w, gone) == [] and gone._obj is None

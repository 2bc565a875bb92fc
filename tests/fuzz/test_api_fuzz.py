"""Fuzz the API from its own OpenAPI documents: no request may earn a 5xx.

The server describes itself in ``/openapi/v3``; this suite reads those
documents, and for every operation they list (create, replace, patch, read,
delete, list, delete collection, and the status, scale, binding, finalize, log
and exec subresources) lets hypothesis build requests: query parameters from
the operation's parameter list, bodies shaped by the component schemas, then
spoiled (wrong types, huge and negative numbers, empty strings, unicode, deep
nesting, nulls, dropped required fields, extra fields), patches of all three
kinds with strategic-merge directives in odd places, broken JSON, YAML. Every
answer must be below 500, JSON, and for an error a ``Status`` whose code is the
HTTP status; the server must stay up, and its log must hold no traceback.

Two 5xx answers are deliberate and checked as such: 503 from pods/log and
pods/exec (no node agent runs beside this server) and upstream's 504
"Too large resource version" (cause ``ResourceVersionTooLarge``, which
client-go's reflector acts on) for a list at a revision the store has not reached.

Generation never reads live server state (hypothesis must be able to replay
a draw), so updates start from the seeds as first stored, not as they are now.

``SHOAL_FUZZ_EXAMPLES`` (default 300) sets the examples of the main test; the
others scale with it. The default keeps the suite under half a minute; 3000
takes a few minutes. ``SHOAL_FUZZ_STATS=1`` (with ``-s``) prints how many
answers of each status each kind of operation got, to see how deep it reaches.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import CRD_SEED, NAMESPACE, SEED, FuzzTarget, Operation

STATS: Counter[tuple[str, str, int]] = Counter()  # (method, target, status): printed with SHOAL_FUZZ_STATS=1
EXAMPLES = int(os.environ.get("SHOAL_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
)

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
NODE_PROXY = frozenset({"log", "exec", "attach", "portforward"})
PROTECTED_NAMESPACES = frozenset({NAMESPACE, "default", "kube-system", "kube-public", "kube-node-lease"})
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

# ---- primitive strategies ---------------------------------------------------------------

WEIRD_TEXT = st.sampled_from([
    "", " ", "a", "\x00", "\u2603", "\U0001f600", "ñ", "a" * 300, "../..", "%2F", "{}", "[]", "null",
    "true", "0", "-1", "1e309", "NaN", "\\", '"', "$patch", "a,b", "a=b", "!", "()", "\ud7ff", "\ufeff",
])
TEXT = st.one_of(st.text(max_size=12), WEIRD_TEXT)
HUGE_INTS = st.sampled_from([2**31, 2**31 - 1, -(2**31) - 1, 2**53 + 1, 2**63, 2**63 - 1, -(2**63) - 1,
                             2**64, 2**64 + 1, 10**30, -(10**30)])
INTS = st.one_of(st.integers(-3, 100), HUGE_INTS, st.integers())
FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.5, -0.0, 1e300, -1e300]))
DNS_NAME = st.from_regex(r"\A[a-z]([a-z0-9-]{0,8}[a-z0-9])?\Z")
COMMON_STRINGS = st.sampled_from([
    "fz", "c", "app", "Always", "Never", "OnFailure", "IfNotPresent", "TCP", "UDP", "ClusterIP", "NodePort",
    "None", "100m", "1", "1Gi", "0.5", "-1", "1e3", "True", "False", "Unknown", "Ready", "Running", "Pending",
    "IPv4", "IPv6", "10.0.0.1", "::1", "RollingUpdate", "Recreate", "25%", "http", "busybox", "*/5 * * * *",
    "@hourly", "Exists", "Equal", "In", "NotIn", "DoesNotExist", "NoSchedule", "2024-01-01T00:00:00Z",
])
STRINGS = st.one_of(COMMON_STRINGS, DNS_NAME, TEXT)


def _nested(depth: int, leaf: Any, *, lists: bool) -> Any:
    out = leaf
    for i in range(depth):
        out = [out] if lists and i % 2 else {"a": out}
    return out


DEEP_MARK = "\x00deep:"


def _deep_mark(depth: int, lists: bool) -> str:
    """A stand-in for a value nested ``depth`` levels, spliced in by ``_encode_json`` (json.dumps recurses)."""
    return f"{DEEP_MARK}{depth}:{int(lists)}"


def _splice_deep(raw: bytes) -> bytes:
    mark = json.dumps(DEEP_MARK)[1:-1].encode()
    while (i := raw.find(b'"' + mark)) >= 0:
        j = raw.index(b'"', i + 1)
        depth, lists = (int(x) for x in raw[i + 1 + len(mark): j].split(b":"))
        opener, closer = (b"[", b"]") if lists else (b'{"a":', b"}")
        raw = raw[:i] + opener * depth + b"1" + closer * depth + raw[j + 1:]
    return raw


DEEP = st.one_of(st.builds(_nested, st.sampled_from([20, 101, 150]), st.sampled_from([None, 1, "x"]),
                           lists=st.booleans()),
                 st.builds(_deep_mark, st.sampled_from([99, 100, 101, 600, 1200, 20000]), st.booleans()))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, STRINGS)
JSONISH = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(STRINGS, c, max_size=3)), max_leaves=8)
NASTY = st.one_of(st.none(), st.booleans(), HUGE_INTS, st.integers(-5, -1), st.just(""), TEXT, FLOATS,
                  st.builds(list), st.builds(dict), DEEP, JSONISH)

MUTATIONS = st.sampled_from([0, 0, 0, 1, 1, 2, 3])  # untouched bodies reach the deeper code

# ---- label and field selectors -------------------------------------------------------------

_SEL_KEYS = st.one_of(st.sampled_from(["app", "a.b/c", "tier", "x", "-bad", "a/b/c", "k" * 70,
                                       "example.com/role", "", "!", "app "]), DNS_NAME, TEXT)
_SEL_VALUES = st.one_of(st.sampled_from(["fz", "", "v", "a b", "x" * 70, "(", ")", ","]), DNS_NAME, TEXT)


@st.composite
def label_selectors(draw: st.DrawFn) -> str:
    def term() -> str:
        k = draw(_SEL_KEYS)
        form = draw(st.integers(0, 7))
        if form == 0:
            return k
        if form == 1:
            return "!" + k
        if form in (2, 3, 4):
            return f"{k}{draw(st.sampled_from(['=', '==', '!=', '>', '<', '=!', '']))}{draw(_SEL_VALUES)}"
        vals = draw(st.lists(_SEL_VALUES, max_size=3))
        op = draw(st.sampled_from(["in", "notin", "IN", "in ", "exists"]))
        return f"{k} {op} ({','.join(vals)}"+ draw(st.sampled_from([")", "", "))", ",)"]))

    if draw(st.integers(0, 9)) == 0:
        return draw(TEXT)
    return draw(st.sampled_from([",", ", ", " ,"])).join(term() for _ in range(draw(st.integers(1, 3))))


_FIELD_KEYS = st.one_of(st.sampled_from([
    "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.unschedulable", "type",
    "involvedObject.name", "reason", "status.replicas", "status.successful", "spec.restartPolicy",
    "metadata.labels", "spec", "", "a.b.c",
]), TEXT)


@st.composite
def field_selectors(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(TEXT)
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["=", "==", "!=", "", "=!", " in "]))
        value = draw(st.one_of(_SEL_VALUES, st.sampled_from(["a\\,b", "\\", "a\\=b", "\\x"])))
        terms.append(f"{draw(_FIELD_KEYS)}{op}{value}")
    return ",".join(terms)


# ---- query parameters ---------------------------------------------------------------------

def _continue_tokens() -> st.SearchStrategy[str]:
    payload = st.fixed_dictionaries(
        {}, optional={"v": st.one_of(st.just("meta.k8s.io/v1"), TEXT),
                      "rv": st.one_of(INTS, FLOATS, st.sampled_from([float("inf"), float("-inf")]), TEXT,
                                      st.none(), st.just([1])),
                      "start": st.one_of(TEXT, st.just("/registry/"), INTS, st.none())})
    encoded = payload.map(lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("="))
    raw = st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())
    return st.one_of(encoded, raw, TEXT)


_NUMBERS = st.one_of(INTS.map(str), TEXT, st.sampled_from(["1.5", "0x10", " 1", "1_0", "+3"]))
_BOOLISH = st.sampled_from(["true", "false", "1", "0", "", "True", "yes", "maybe"])
_NOT_WATCH = st.sampled_from(["false", "0", "", "False", "no", "off", "f"])

STREAMING = frozenset({"watch", "follow"})  # fuzzed only with values that do not start a stream
PARAM_VALUES: dict[str, st.SearchStrategy[str]] = {
    "labelSelector": label_selectors(),
    "fieldSelector": field_selectors(),
    "limit": _NUMBERS,
    "continue": _continue_tokens(),
    "resourceVersion": st.one_of(st.sampled_from(["", "0", "1", "-1", "999999999"]), _NUMBERS),
    "resourceVersionMatch": st.one_of(st.sampled_from(["NotOlderThan", "Exact", ""]), TEXT),
    "watch": _NOT_WATCH,
    "allowWatchBookmarks": _BOOLISH,
    "sendInitialEvents": _BOOLISH,
    "timeoutSeconds": _NUMBERS,
    "dryRun": st.one_of(st.sampled_from(["All", "All", ""]), TEXT),
    "fieldValidation": st.one_of(st.sampled_from(["Strict", "Warn", "Ignore", ""]), TEXT),
    "fieldManager": TEXT,
    "force": _BOOLISH,
    "gracePeriodSeconds": _NUMBERS,
    "propagationPolicy": st.one_of(st.sampled_from(["Orphan", "Background", "Foreground", ""]), TEXT),
    "pretty": _BOOLISH,
    "follow": st.just("false"),  # a followed log would stream
    "includeObject": st.one_of(st.sampled_from(["Object", "Metadata", "None", ""]), TEXT),
}

GOOD_PARAM_VALUES: dict[str, st.SearchStrategy[str]] = {
    "labelSelector": st.sampled_from(["app=fz", "app", "!x", "app in (fz,y)", "tier notin (a)", "app!=q"]),
    "fieldSelector": st.sampled_from(["metadata.name=fz-seed", "metadata.namespace!=x", "metadata.name"]),
    "limit": st.sampled_from(["1", "2", "500"]),
    "resourceVersion": st.sampled_from(["", "0"]),
    "resourceVersionMatch": st.sampled_from(["NotOlderThan", "Exact"]),
    "dryRun": st.just("All"),
    "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore"]),
    "fieldManager": st.just("kubectl"),
    "gracePeriodSeconds": st.sampled_from(["0", "1", "30"]),
    "propagationPolicy": st.sampled_from(["Orphan", "Background", "Foreground"]),
    "includeObject": st.sampled_from(["Object", "Metadata", "None"]),
}


@st.composite
def query_params(draw: st.DrawFn, op: Operation) -> list[tuple[str, str]]:
    names = list(op.params)
    if op.method == "GET" and not op.item:
        names.append("includeObject")
    chosen = draw(st.lists(st.sampled_from(names), max_size=5, unique=True)) if names else []
    out = []
    for n in chosen:
        good = GOOD_PARAM_VALUES.get(n)
        out.append((n, draw(good) if good is not None and draw(st.integers(0, 2)) else draw(PARAM_VALUES.get(n, STRINGS))))
    if draw(st.integers(0, 9)) == 0:  # a repeated or an unknown parameter (never one that makes a stream)
        extra = [n for n in names if n not in STREAMING] + ["bogus", "dryRun"]
        out.append((draw(st.sampled_from(extra)), draw(TEXT)))
    if op.method == "DELETE" and not op.item and op.kind == "Namespace":
        out.append(("dryRun", "All"))  # never delete every namespace, our own included
    return out


# ---- bodies from the component schemas --------------------------------------------------------

class SchemaValues:
    """Draw JSON values shaped by the OpenAPI component schemas (depth-limited)."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self.schemas = schemas

    def resolve(self, s: dict[str, Any]) -> dict[str, Any]:
        for _ in range(10):
            if "$ref" in s:
                s = self.schemas.get(s["$ref"].rsplit("/", 1)[-1], {})
            elif "allOf" in s and len(s["allOf"]) == 1 and "properties" not in s:
                s = {**{k: v for k, v in s.items() if k != "allOf"}, **s["allOf"][0]}
            else:
                return s
        return s

    def value(self, draw: Callable[..., Any], schema: dict[str, Any], depth: int = 0) -> Any:
        s = self.resolve(schema)
        if "oneOf" in s:
            return self.value(draw, draw(st.sampled_from(s["oneOf"])), depth)
        if s.get("x-kubernetes-preserve-unknown-fields") and "properties" not in s:
            return draw(st.one_of(JSONISH, DEEP))  # free-form fields are stored as sent
        t = s.get("type")
        if t == "object" or "properties" in s:
            props: dict[str, Any] = s.get("properties") or {}
            if props:
                required = set(s.get("required") or ())
                budget = 6 if depth < 2 else 3 if depth < 5 else 0
                names = sorted(props)
                chosen = set(draw(st.lists(st.sampled_from(names), max_size=budget, unique=True)))
                chosen |= {r for r in required if r in props and draw(st.integers(0, 9)) > 0}
                return {n: self.value(draw, props[n], depth + 1) for n in sorted(chosen)}
            extra = s.get("additionalProperties")
            if isinstance(extra, dict) and depth < 6:
                keys = draw(st.lists(st.one_of(DNS_NAME, STRINGS), max_size=3, unique=True))
                return {k: self.value(draw, extra, depth + 1) for k in keys}
            return {}
        if t == "array":
            if depth >= 6:
                return []
            n = draw(st.integers(0, 3))
            return [self.value(draw, s.get("items") or {}, depth + 1) for _ in range(n)]
        if t == "string":
            if s.get("format") == "date-time":
                return draw(st.one_of(st.sampled_from(["2024-01-01T00:00:00Z", "2024-13-45T99:00:00Z", ""]), TEXT))
            if s.get("format") == "byte":
                return draw(st.one_of(st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode()), TEXT))
            return draw(STRINGS)
        if t == "integer":
            return draw(INTS)
        if t == "number":
            return draw(st.one_of(INTS, FLOATS))
        if t == "boolean":
            return draw(st.booleans())
        return draw(JSONISH)


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths (tuples of keys and indexes) of every dict and list inside ``doc``."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        out.append(path)
        for k, v in doc.items():
            out.extend(_containers(v, (*path, k)))
    elif isinstance(doc, list):
        out.append(path)
        for i, v in enumerate(doc):
            out.extend(_containers(v, (*path, i)))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def spoil(draw: st.DrawFn, doc: Any) -> Any:
    """A copy of ``doc`` with up to three mutations: a wrong value, a dropped key, an extra key.

    Never mutates ``doc`` nor a drawn value in place: hypothesis replays draws, and a value that
    changed between runs makes its data generation inconsistent."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(MUTATIONS)):
        spots = _containers(doc)
        if not spots:
            return draw(NASTY)
        path = draw(st.sampled_from(spots))
        node = _at(doc, path)
        how = draw(st.sampled_from(["replace", "drop", "extra"]))
        if isinstance(node, dict):
            if how == "extra" or not node:
                node[draw(st.one_of(STRINGS, st.sampled_from(["$patch", "$retainKeys", "metadata"])))] = draw(NASTY)
            elif how == "drop":
                node.pop(draw(st.sampled_from(sorted(node))))
            else:
                node[draw(st.sampled_from(sorted(node)))] = draw(NASTY)
        elif isinstance(node, list):
            if node and how != "extra":
                i = draw(st.integers(0, len(node) - 1))
                if how == "drop":
                    node.pop(i)
                else:
                    node[i] = draw(NASTY)
            else:
                node.append(draw(NASTY))
    return doc


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@st.composite
def json_patches(draw: st.DrawFn, live: dict[str, Any]) -> Any:
    pointers = [_pointer(p) for p in _containers(live)]
    pointers += ["/metadata/labels/a", "/spec/containers/-", "/spec/containers/99", "/spec/replicas",
                 "/metadata/resourceVersion", "/metadata/uid", "/status", "", "/", "/~2", "/a~", "/-", "//",
                 "/spec/containers/0/name", "/spec/containers/-1", "/spec/containers/01", "/kind",
                 "/metadata/name", "/metadata"]
    ptr = st.one_of(st.sampled_from(pointers), TEXT)

    def one() -> Any:
        op: dict[str, Any] = {"op": draw(st.one_of(st.sampled_from(
            ["add", "remove", "replace", "move", "copy", "test"]), TEXT, st.none()))}
        if draw(st.integers(0, 9)):
            op["path"] = draw(st.one_of(ptr, NASTY))
        if draw(st.booleans()):
            op["value"] = draw(st.one_of(NASTY, st.just(live.get("spec")), st.just(live.get("metadata"))))
        if draw(st.integers(0, 3)) == 0:
            op["from"] = draw(st.one_of(ptr, NASTY))
        return op

    if draw(st.integers(0, 14)) == 0:
        return draw(NASTY)
    return [one() if draw(st.integers(0, 9)) else draw(NASTY) for _ in range(draw(st.integers(0, 4)))]


_DIRECTIVE_VALUES = st.one_of(st.sampled_from(["replace", "delete", "merge", "retainKeys", "bogus"]), NASTY)


@st.composite
def strategic_patches(draw: st.DrawFn, base: Any) -> Any:
    """A merge patch shape with strategic-merge directives sprinkled in."""
    doc = base
    for _ in range(draw(st.integers(0, 4))):
        spots = _containers(doc)
        if not spots:
            break
        node = _at(doc, draw(st.sampled_from(spots)))
        if isinstance(node, dict):
            keys = sorted(k for k in node if isinstance(k, str)) or ["containers"]
            field = draw(st.one_of(st.sampled_from(keys), STRINGS))
            d = draw(st.sampled_from(["$patch", "$retainKeys", "$setElementOrder/", "$deleteFromPrimitiveList/",
                                      "$setElementOrder", "$deleteFromPrimitiveList/"]))
            if d == "$patch":
                node["$patch"] = draw(_DIRECTIVE_VALUES)
            elif d == "$retainKeys":
                node["$retainKeys"] = draw(st.one_of(st.lists(st.one_of(st.sampled_from(keys), STRINGS),
                                                              max_size=3), NASTY))
            elif d.endswith("/"):
                node[d + field] = draw(st.one_of(
                    st.lists(st.one_of(st.fixed_dictionaries({"name": st.one_of(st.just("c"), STRINGS)}),
                                       STRINGS, NASTY), max_size=3), NASTY))
            else:
                node[d] = draw(NASTY)
        elif isinstance(node, list):
            node.append(draw(st.one_of(
                st.fixed_dictionaries({"$patch": _DIRECTIVE_VALUES}, optional={"name": st.just("c")}),
                st.fixed_dictionaries({"name": st.just("c"), "$patch": st.just("delete")}),
                st.just({"$patch": "replace"}), NASTY)))
    return doc


@st.composite
def containers_patches(draw: st.DrawFn) -> Any:
    """Hand-shaped strategic patches at the lists with merge keys (the common kubectl shapes)."""
    item = st.fixed_dictionaries({"name": st.one_of(st.just("c"), STRINGS)},
                                 optional={"image": STRINGS, "$patch": _DIRECTIVE_VALUES,
                                           "ports": st.lists(st.fixed_dictionaries(
                                               {"containerPort": st.one_of(st.just(80), INTS)}), max_size=2),
                                           "env": st.lists(st.fixed_dictionaries(
                                               {"name": STRINGS}, optional={"value": NASTY}), max_size=2)})
    spec = {"containers": draw(st.lists(st.one_of(item, NASTY), max_size=3)),
            "$setElementOrder/containers": draw(st.one_of(
                st.lists(st.fixed_dictionaries({"name": STRINGS}), max_size=2), NASTY)),
            "$retainKeys": draw(st.one_of(st.lists(STRINGS, max_size=2), NASTY)),
            "tolerations": draw(st.one_of(st.lists(JSONISH, max_size=2), NASTY)),
            "$deleteFromPrimitiveList/finalizers": draw(st.one_of(st.lists(STRINGS, max_size=2), NASTY))}
    keep = draw(st.sets(st.sampled_from(sorted(spec)), min_size=1))
    spec = {k: v for k, v in spec.items() if k in keep}
    where = draw(st.sampled_from(["pod", "template", "metadata"]))
    if where == "pod":
        return {"spec": spec}
    if where == "template":
        return {"spec": {"template": {"spec": spec}}}
    return {"metadata": {"finalizers": draw(st.lists(STRINGS, max_size=2)),
                         "$deleteFromPrimitiveList/finalizers": draw(st.lists(STRINGS, max_size=2)),
                         "labels": {draw(DNS_NAME): draw(st.one_of(st.none(), STRINGS))}}}


# ---- encoding ------------------------------------------------------------------------------

def _encode_json(doc: Any) -> bytes:
    return _splice_deep(json.dumps(doc, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@st.composite
def encoded(draw: st.DrawFn, doc: Any, content_type: str) -> tuple[bytes, str]:
    """``doc`` encoded for the wire; sometimes broken, sometimes as YAML, sometimes in a wrong media type."""
    how = draw(st.integers(0, 19))
    if how == 0:
        return draw(st.binary(max_size=64)), content_type
    if how == 1:
        raw = _encode_json(doc)
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))], content_type
    if how == 2 and content_type in ("application/json", "application/merge-patch+json"):
        try:
            return yaml.safe_dump(doc).encode(), "application/yaml"
        except (yaml.YAMLError, RecursionError):
            return _encode_json(doc), content_type
    if how == 3:
        return draw(st.sampled_from([b"a: [", b"- 1\n- 2\n", b"&a [*a]", b"!!python/object:os.system {}",
                                     b"a: &a {b: *a}", b"--- 1\n--- 2\n", b"\xff\xfe", b"{{{"])), \
            draw(st.sampled_from(["application/yaml", "application/apply-patch+yaml", content_type]))
    if how == 4:
        ct = draw(st.sampled_from(["text/plain", "application/vnd.kubernetes.protobuf", "", "application/xml",
                                   "application/json; charset=latin-1", "multipart/form-data"]))
        return _encode_json(doc), ct
    return _encode_json(doc), content_type


# ---- the checks --------------------------------------------------------------------------------

def check_response(t: FuzzTarget, r: requests.Response, op: Operation, what: str) -> None:
    assert t.srv.proc.poll() is None, f"the server died after {what}\n{t.srv.log()[-4000:]}"
    if op.subresource in NODE_PROXY and r.status_code == 503:
        # no agent runs beside this server: "cannot reach the node agent" is the truthful answer
        assert r.json().get("reason") == "ServiceUnavailable", f"{what} -> {r.text[:2000]}"
        return
    if r.status_code == 504 and op.method == "GET" and not op.item:
        # a list at a revision the store has not reached: upstream's own answer, which clients recognise
        causes = (r.json().get("details") or {}).get("causes") or [{}]
        assert causes[0].get("reason") == "ResourceVersionTooLarge", f"{what} -> {r.text[:2000]}"
        return
    assert r.status_code < 500, f"{what} -> {r.status_code} {r.text[:2000]}"
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"{what} -> {r.status_code} with a body that is not JSON: {r.content[:500]!r}") from None
    assert isinstance(body, dict), f"{what} -> {r.status_code} {r.text[:500]}"
    assert isinstance(body.get("kind"), str) and body.get("apiVersion"), f"{what} -> {r.status_code} {r.text[:500]}"
    if r.status_code >= 400:
        assert body["kind"] == "Status", f"{what} -> {r.status_code} {r.text[:500]}"
        assert body.get("code") == r.status_code, f"{what} -> {r.status_code} {r.text[:500]}"
        assert body.get("status") == "Failure", f"{what} -> {r.status_code} {r.text[:500]}"


def _url(t: FuzzTarget, op: Operation, namespace: str, name: str) -> str:
    path = op.template.replace("{namespace}", quote(namespace, safe="")).replace("{name}", quote(name, safe=""))
    return t.srv.url + path


def send(t: FuzzTarget, op: Operation, *, namespace: str, name: str, params: list[tuple[str, str]],
         body: bytes | None, content_type: str | None, table: bool) -> requests.Response:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if table:
        headers["Accept"] = TABLE_ACCEPT
    url = _url(t, op, namespace, name)
    r = t.session.request(op.method, url, params=params, data=body, headers=headers, timeout=30)
    STATS[(op.method, op.subresource or ("item" if op.item else "collection"), r.status_code)] += 1
    what = (f"{op.method} {r.request.url} Content-Type={content_type!r} table={table}\n"
            f"body={(body or b'')[:1500]!r}")
    check_response(t, r, op, what)
    return r


# ---- the fuzz tests -------------------------------------------------------------------------------

def _stored(t: FuzzTarget, kind: str) -> dict[str, Any]:
    """The seed as the server first stored it (defaults, uid and all): realistic, and the same on every run,
    which hypothesis needs (a strategy that reads live state cannot be replayed or shrunk)."""
    return copy.deepcopy(t.snapshots[kind])


@st.composite
def body_for(draw: st.DrawFn, t: FuzzTarget, op: Operation, name: str) -> Any:
    """A create/replace body: the live object or a schema-shaped one, with identity mostly right, spoiled."""
    gen = SchemaValues(t.schemas)
    if op.item and op.kind in t.seeds and draw(st.booleans()):
        doc = _stored(t, op.kind)
        if draw(st.integers(0, 3)):  # else a stale resourceVersion / uid: a conflict
            for f in ("resourceVersion", "uid"):
                doc["metadata"].pop(f, None)
    elif op.body_schema and draw(st.integers(0, 3)):
        doc = gen.value(draw, {"$ref": op.body_schema})
        if isinstance(doc, dict) and draw(st.integers(0, 4)):
            doc["apiVersion"], doc["kind"] = op.api_version, op.kind
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            meta["name"] = name if op.item else draw(DNS_NAME)
            doc["metadata"] = meta
    else:
        doc = dict(copy.deepcopy(t.seeds.get(op.kind, {})), metadata={"name": draw(DNS_NAME)}) if op.kind else {}
    return draw(spoil(doc))


@st.composite
def patch_for(draw: st.DrawFn, t: FuzzTarget, op: Operation) -> tuple[Any, str]:
    ct = draw(st.sampled_from([*PATCH_TYPES, PATCH_TYPES[2], "application/apply-patch+yaml", "application/json",
                               "text/plain"]))
    live = _stored(t, op.kind) if op.kind in t.seeds else {}
    if ct == "application/json-patch+json":
        return draw(json_patches(live)), ct
    gen = SchemaValues(t.schemas)
    if op.kind == "Scale" or not op.body_schema:
        base = draw(st.one_of(st.fixed_dictionaries({"spec": st.fixed_dictionaries({"replicas": INTS})}), JSONISH))
    else:
        kind_schema = next((n for n, s in t.schemas.items()
                            if any(g.get("kind") == op.kind and g.get("group") == op.group
                                   for g in s.get("x-kubernetes-group-version-kind", []))), None)
        how = draw(st.integers(0, 3))
        if how == 0:
            base = draw(containers_patches())
        elif how == 1:
            base = draw(JSONISH)
        elif how == 2 and kind_schema:
            base = gen.value(draw, {"$ref": kind_schema})
        else:  # a piece of the live object, as kubectl edit / apply would send back
            keep = draw(st.sets(st.sampled_from(sorted(k for k in live if k not in ("apiVersion", "kind")) or ["spec"]),
                                min_size=1))
            base = {k: live[k] for k in keep if k in live}
    if ct == "application/strategic-merge-patch+json":
        return draw(strategic_patches(base)), ct
    return draw(spoil(base)), ct


OPS_CACHE: dict[int, list[Operation]] = {}


def _ops(t: FuzzTarget) -> list[Operation]:
    return OPS_CACHE.setdefault(id(t), [op for op in t.operations if op.kind or op.subresource])


@SETTINGS
@given(data=st.data())
def test_fuzz_operations(target: FuzzTarget, data: st.DataObject) -> None:
    """Any operation of the OpenAPI documents, with fuzzed parameters and bodies."""
    t = target
    op = data.draw(st.sampled_from(_ops(t)), label="operation")
    kind = op.kind if op.kind in t.seeds else {"Scale": None, "Binding": "Pod"}.get(op.kind)
    if op.item and kind is None:
        kind = {"deployments": "Deployment", "replicasets": "ReplicaSet", "pods": "Pod",
                "namespaces": "Namespace"}.get(op.plural)
    if op.item and kind:
        t.ensure_seed(kind)
    namespace = data.draw(st.sampled_from([NAMESPACE] * 6 + ["nope", "default"]) if data.draw(st.integers(0, 7))
                          else st.one_of(DNS_NAME, TEXT), label="namespace")
    seed = t.seed_name(kind) if kind else SEED
    name = data.draw(st.just(seed) if data.draw(st.integers(0, 5)) else st.one_of(DNS_NAME, TEXT), label="name")
    if kind == "Namespace" and name in PROTECTED_NAMESPACES:
        name = seed  # the fuzzer may wreck its own seed namespace, not the one it works in
    params = data.draw(query_params(op), label="query")
    if op.kind == "CustomResourceDefinition" and op.method in ("PUT", "PATCH", "DELETE") and (
            name == CRD_SEED or not op.item):
        params.append(("dryRun", "All"))  # the seed CRD stays as it is: its custom kind is fuzzed too
    table = op.method == "GET" and data.draw(st.integers(0, 3)) == 0
    body: bytes | None = None
    ct: str | None = None
    if op.method in ("POST", "PUT"):
        if op.subresource == "binding":
            doc = data.draw(st.one_of(st.fixed_dictionaries({"target": st.fixed_dictionaries(
                {"name": st.one_of(st.just("fz-node"), STRINGS)})}), JSONISH), label="binding")
        elif op.subresource == "finalize":
            doc = data.draw(st.one_of(st.fixed_dictionaries({"spec": st.fixed_dictionaries(
                {"finalizers": st.lists(STRINGS, max_size=2)})}), JSONISH), label="finalize")
        elif op.subresource in NODE_PROXY:
            doc = None
        else:
            doc = data.draw(body_for(t, op, name), label="body")
        if doc is not None:
            body, ct = data.draw(encoded(doc, "application/json"), label="encoded")
    elif op.method == "PATCH":
        doc, ct = data.draw(patch_for(t, op), label="patch")
        body, ct = data.draw(encoded(doc, ct), label="encoded")
    elif op.method == "DELETE" and data.draw(st.booleans()):
        opts = data.draw(st.one_of(st.fixed_dictionaries({}, optional={
            "kind": st.just("DeleteOptions"), "apiVersion": st.just("v1"),
            "gracePeriodSeconds": st.one_of(INTS, NASTY), "propagationPolicy": st.one_of(STRINGS, NASTY),
            "dryRun": st.one_of(st.just(["All"]), NASTY),
            "preconditions": st.one_of(st.fixed_dictionaries({}, optional={"uid": NASTY, "resourceVersion": NASTY}),
                                       NASTY)}), NASTY), label="delete options")
        if op.kind == "Namespace" and not op.item:
            opts = {"dryRun": ["All"]}
        body, ct = data.draw(encoded(opts, "application/json"), label="encoded")
    send(t, op, namespace=namespace, name=name, params=params, body=body, content_type=ct, table=table)


@settings(SETTINGS, max_examples=max(5, EXAMPLES // 30))
@given(data=st.data())
def test_fuzz_watch(target: FuzzTarget, data: st.DataObject) -> None:
    """Watches with fuzzed parameters: an error before the stream, or a stream of well-formed events."""
    t = target
    op = data.draw(st.sampled_from([o for o in _ops(t) if o.method == "GET" and not o.item
                                    and "watch" in o.params]), label="operation")
    params = [p for p in data.draw(query_params(op), label="query") if p[0] not in ("watch", "timeoutSeconds")]
    params += [("watch", data.draw(st.sampled_from(["1", "true"]))), ("timeoutSeconds", "1")]
    table = data.draw(st.integers(0, 3)) == 0
    headers = {"Accept": TABLE_ACCEPT} if table else {}
    url = _url(t, op, NAMESPACE, "")
    with t.session.get(url, params=params, headers=headers, stream=True, timeout=15) as r:
        what = f"GET {r.request.url} table={table}"
        if r.status_code != 200:
            check_response(t, r, op, what)
            return
        for line in r.iter_lines():
            ev = json.loads(line)
            assert ev["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"), f"{what}: {line[:300]!r}"
            assert isinstance(ev["object"], dict) and ev["object"].get("kind"), f"{what}: {line[:300]!r}"
            if ev["type"] == "ERROR":
                assert ev["object"]["kind"] == "Status", f"{what}: {line[:300]!r}"
    assert t.srv.proc.poll() is None


@settings(SETTINGS, max_examples=max(10, EXAMPLES // 4))
@given(data=st.data())
def test_fuzz_selectors_and_paging(target: FuzzTarget, data: st.DataObject) -> None:
    """Lists over every collection with selectors, limits and continue tokens (also from a real first page)."""
    t = target
    op = data.draw(st.sampled_from([o for o in _ops(t) if o.method == "GET" and not o.item]), label="operation")
    params = [("labelSelector", data.draw(label_selectors(), label="labels")),
              ("fieldSelector", data.draw(field_selectors(), label="fields"))]
    params = data.draw(st.lists(st.sampled_from(params), unique=True, max_size=2))
    params.append(("limit", data.draw(st.sampled_from(["1", "2"]))))
    r = send(t, op, namespace=NAMESPACE, name="", params=params, body=None, content_type=None, table=False)
    token = r.json().get("metadata", {}).get("continue") if r.status_code == 200 else None
    if token:
        mangled = data.draw(st.sampled_from([token, token[:-1], token + "A", token[::-1], token.upper()]))
        send(t, op, namespace=NAMESPACE, name="", params=[*params, ("continue", mangled)], body=None,
             content_type=None, table=data.draw(st.booleans()))


# ---- regressions and edges the fuzzer met or might miss ------------------------------------------

def _op(t: FuzzTarget, method: str, kind: str, *, item: bool, sub: str = "") -> Operation:
    return next(o for o in t.operations if o.method == method and o.kind == kind and o.item == item
                and o.subresource == sub and (o.namespaced or kind in ("Namespace", "Node")))


def _get(t: FuzzTarget, op: Operation, params: list[tuple[str, str]], *, table: bool = False) -> requests.Response:
    return send(t, op, namespace=NAMESPACE, name=SEED, params=params, body=None, content_type=None, table=table)


def _token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize("token", [
    _token(b'{"rv": Infinity, "start": "x"}'),  # was 500: OverflowError
    _token(b'{"rv": 1e400, "start": "x"}'),
    _token(b'{"rv": 100000000000000000000000000000, "start": "x"}'),  # was 500: FutureRevisionError
    _token(b'{"rv": -5, "start": "x"}'),  # was 500: the store's ValueError
    _token(b'{"rv": true, "start": "x"}'),
    _token(b'{"rv": 1, "start": null}'),
    _token(b'{"rv": 1, "start": 5}'),
    "%%%",
])
def test_odd_continue_tokens_are_400(target: FuzzTarget, token: str) -> None:
    r = _get(target, _op(target, "GET", "ConfigMap", item=False), [("limit", "1"), ("continue", token)])
    assert r.status_code == 400 and "continue" in r.json()["message"]


@pytest.mark.parametrize("params", [
    [("limit", "100000000000000000000000000")],  # was 500: sqlite OverflowError
    [("limit", str(2**63))],
    [("resourceVersion", "-1"), ("resourceVersionMatch", "Exact")],  # was 500: the store's ValueError
    [("limit", "-1")],
])
def test_out_of_range_list_parameters_are_400(target: FuzzTarget, params: list[tuple[str, str]]) -> None:
    assert _get(target, _op(target, "GET", "ConfigMap", item=False), params).status_code == 400


def test_list_at_a_future_revision_is_upstreams_504(target: FuzzTarget) -> None:
    """Was 500 (FutureRevisionError); upstream answers 504 Timeout with the ResourceVersionTooLarge cause."""
    r = _get(target, _op(target, "GET", "ConfigMap", item=False),
             [("resourceVersion", str(10**12)), ("resourceVersionMatch", "Exact")])
    assert r.status_code == 504
    assert r.json()["reason"] == "Timeout"
    assert r.json()["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


@pytest.mark.parametrize("path", ["/api/v1/namespaces/%0A/configmaps", "/%0A", "/apis/%0A/v1/x"])
def test_paths_the_router_refuses_answer_a_status(target: FuzzTarget, path: str) -> None:
    """Was a plain-text aiohttp 404 (a newline matches none of the routes)."""
    r = target.session.get(target.srv.url + path, timeout=10)
    assert r.status_code == 404
    assert r.json()["kind"] == "Status" and r.json()["code"] == 404


def test_body_over_the_limit(target: FuzzTarget) -> None:
    op = _op(target, "POST", "ConfigMap", item=False)
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                       "data": {"a": "x" * (3 * 1024 * 1024 + 10)}}).encode()
    r = send(target, op, namespace=NAMESPACE, name="", params=[], body=body, content_type="application/json",
             table=False)
    assert r.status_code == 413


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [150, 600, 1000, 10000])
def test_deeply_nested_bodies_are_400(target: FuzzTarget, depth: int) -> None:
    """Were 500: msgspec's RecursionError (1000 and deeper), and the patch code's (about 500 and deeper)."""
    t = target
    t.ensure_seed("ConfigMap")  # the fuzzer may have deleted it
    labels = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep","labels":' + _deep(depth) + b"}}"
    patch = b'{"metadata":{"labels":' + _deep(depth) + b"}}"
    json_patch = b'[{"op":"add","path":"/metadata/labels","value":' + _deep(depth) + b"}]"
    for method, ct, body in (("POST", "application/json", labels), ("PUT", "application/json", labels),
                             ("PATCH", "application/merge-patch+json", patch),
                             ("PATCH", "application/strategic-merge-patch+json", patch),
                             ("PATCH", "application/json-patch+json", json_patch)):
        op = _op(t, method, "ConfigMap", item=method != "POST")
        r = send(t, op, namespace=NAMESPACE, name=SEED, params=[], body=body, content_type=ct, table=False)
        assert r.status_code == 400, (method, ct, r.text)


def test_deep_free_form_field_cannot_poison_an_object(target: FuzzTarget) -> None:
    """Was: a Node with spec.configSource 800 levels deep was stored, then every patch of it answered 500."""
    t = target
    body = (b'{"apiVersion":"v1","kind":"Node","metadata":{"name":"fz-deep"},"spec":{"configSource":'
            + _deep(800) + b"}}")
    r = send(t, _op(t, "POST", "Node", item=False), namespace="", name="", params=[], body=body,
             content_type="application/json", table=False)
    assert r.status_code == 400
    t.ensure_seed("Node")  # the fuzzer may have deleted it
    body = b'{"spec":{"configSource":' + _deep(300) + b"}}"  # a patch that would build the same
    r = send(t, _op(t, "PATCH", "Node", item=True), namespace="", name=t.seed_name("Node"), params=[], body=body,
             content_type="application/merge-patch+json", table=False)
    assert r.status_code == 400 and "nested" in r.json()["message"]


@pytest.mark.parametrize("doc", [b"a: &a [*a]\n", b"&a {b: *a}\n",
                                 b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                 b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                                 b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                                 b"g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"])
def test_yaml_alias_cycles_and_bombs_are_400(target: FuzzTarget, doc: bytes) -> None:
    r = send(target, _op(target, "POST", "ConfigMap", item=False), namespace=NAMESPACE, name="", params=[],
             body=doc, content_type="application/yaml", table=False)
    assert r.status_code == 400


@pytest.mark.parametrize("opts", [{"preconditions": 1.5}, {"preconditions": {"uid": 7}},
                                  {"preconditions": []}, {"gracePeriodSeconds": 2**64}])
def test_malformed_delete_options_are_400(target: FuzzTarget, opts: dict[str, Any]) -> None:
    """Were 500: AttributeError on a non-object preconditions."""
    r = send(target, _op(target, "DELETE", "ConfigMap", item=True), namespace=NAMESPACE, name=SEED, params=[],
             body=json.dumps(opts).encode(), content_type="application/json", table=False)
    assert r.status_code == 400


def test_unknown_field_with_a_newline_warns_without_dropping_the_connection(target: FuzzTarget) -> None:
    """Was: the Warning header carried the newline, aiohttp refused it and cut the connection."""
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "warn-nl"},
                       "bad\nfield\r": 1}).encode()
    r = send(target, _op(target, "POST", "ConfigMap", item=False), namespace=NAMESPACE, name="",
             params=[("fieldValidation", "Warn"), ("dryRun", "All")], body=body, content_type="application/json",
             table=False)
    assert r.status_code == 201
    assert "\\x0a" in r.headers["Warning"]


def test_watch_table_with_a_bad_include_object_is_a_400_not_a_broken_stream(target: FuzzTarget) -> None:
    """Was: the error came after the stream had started, so the client read an HTTP response inside a chunk."""
    op = _op(target, "GET", "ConfigMap", item=False)
    r = target.session.get(_url(target, op, NAMESPACE, ""), headers={"Accept": TABLE_ACCEPT}, timeout=10,
                           params=[("watch", "1"), ("includeObject", "bogus"), ("timeoutSeconds", "1")])
    check_response(target, r, op, "watch with includeObject=bogus")
    assert r.status_code == 400


def test_deleting_a_bound_pod_with_an_enormous_grace_period(target: FuzzTarget) -> None:
    """Was 500: now + timedelta(seconds=2**62) overflows datetime."""
    t = target
    pod = copy.deepcopy(t.seeds["Pod"])
    pod["metadata"] = {"name": "fz-grace"}
    pod["spec"]["terminationGracePeriodSeconds"] = 2**62
    r = t.session.post(t.collection_url("Pod"), json=pod, timeout=10)
    assert r.status_code == 201, r.text
    r = t.session.post(f"{t.collection_url('Pod')}/fz-grace/binding", timeout=10,
                       json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "fz-grace"},
                             "target": {"kind": "Node", "name": t.seed_name("Node")}})
    assert r.status_code == 201, r.text
    op = _op(t, "DELETE", "Pod", item=True)
    for params in ([("gracePeriodSeconds", str(2**62))], []):
        r = send(t, op, namespace=NAMESPACE, name="fz-grace", params=params, body=None, content_type=None,
                 table=False)
        assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]


def test_generators_cover_the_documents(target: FuzzTarget) -> None:
    """The operation list is read from the documents, so a kind the server adds is fuzzed too."""
    t = target
    kinds = {o.kind for o in t.operations if o.item and not o.subresource}
    assert set(t.seeds) == kinds and len(kinds) >= 16
    subs = {o.subresource for o in t.operations}
    assert {"status", "scale", "binding", "finalize", "log", "exec"} <= subs
    assert any(o.method == "DELETE" and not o.item for o in t.operations)
    gen = SchemaValues(t.schemas)

    @settings(max_examples=20, deadline=None, database=None)
    @given(data=st.data())
    def shaped(data: st.DataObject) -> None:
        pod = gen.value(data.draw, {"$ref": "io.k8s.api.core.v1.Pod"})
        assert isinstance(pod, dict)
        assert set(pod) <= {"apiVersion", "kind", "metadata", "spec", "status"}

    shaped()


def test_zz_server_log_is_clean(target: FuzzTarget) -> None:
    """Runs last (file order): nothing the fuzzer sent produced a traceback or an internal error."""
    if os.environ.get("SHOAL_FUZZ_STATS"):
        for key, n in sorted(STATS.items()):
            print(*key, n)
    log = target.srv.log()
    assert target.srv.proc.poll() is None
    for needle in ("Traceback", "internal error"):
        assert needle not in log, log[max(0, log.find(needle) - 2000): log.find(needle) + 6000]

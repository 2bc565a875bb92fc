"""The protobuf schema of the Kubernetes kinds shoal decodes, compiled from compact specs.

kubectl's typed clients send request bodies as ``application/vnd.kubernetes.protobuf``.
Decoding them needs, per message, each field's number, JSON name and type:
exactly what the upstream ``generated.proto`` files say. Rather than generate
code from them, the tables in ``proto_schema_core``, ``proto_schema_meta`` and
``proto_schema_groups`` keep one short string per message, written from those
files, and this module compiles them into ``{number: FieldSpec}`` once at import.

A field is written ``json:number[:type]``:

* type ``s`` (string, the default), ``i`` (int32/int64 varint), ``b`` (bool),
  ``y`` (bytes, emitted base64 as in JSON), ``q`` (resource.Quantity), ``ios``
  (intstr.IntOrString), ``t`` (meta Time), ``mt`` (MicroTime), ``f`` (FieldsV1),
  ``raw`` (runtime.RawExtension), ``sl`` (a message wrapping a string list, such
  as ExtraValue), or a message name (capitalised);
* prefix ``*`` for a repeated field, ``%`` for ``map<string, T>``, ``^`` for a
  message embedded inline in JSON (``json:",inline"``: its fields are merged
  into the parent, e.g. ``Volume.volumeSource``, ``Probe.handler``);
* suffix ``!`` to keep a zero scalar. Go's gogo-protobuf marshaller writes every
  non-pointer scalar, set or not, so an unmarked ``""``/``0``/``false`` is
  dropped (as ``omitempty`` drops it from JSON); pointer fields (``*int32``
  replicas, ``*bool`` optional, ...) are on the wire only when set, so a zero
  there means something and is kept.
"""

from __future__ import annotations

from typing import NamedTuple

from shoal.api import proto_schema_core, proto_schema_groups, proto_schema_meta

SCALARS = {
    "s": "string",
    "i": "int",
    "b": "bool",
    "y": "bytes",
    "q": "quantity",
    "ios": "intorstring",
    "t": "time",
    "mt": "microtime",
    "f": "fieldsv1",
    "raw": "rawextension",
    "sl": "stringlist",
}
# Scalars that travel as plain varints (may also arrive packed when repeated).
VARINT_SCALARS = frozenset({"int", "bool"})
# Scalars that travel length-delimited: strings, bytes and the small wrapper messages.
LENGTH_SCALARS = frozenset(set(SCALARS.values()) - VARINT_SCALARS)


class FieldSpec(NamedTuple):
    """One field of a message: how it is named in JSON and how to decode it."""

    json_name: str
    kind: str  # "scalar" | "message" | "map" | "inline"
    type: str  # a SCALARS value, or a message name
    repeated: bool
    keep_zero: bool = False


Message = dict[int, FieldSpec]


class SchemaError(ValueError):
    """A spec string in the tables is malformed (a bug in shoal, caught by tests)."""


def parse_field(token: str) -> tuple[int, FieldSpec]:
    """Parse one ``json:number[:type]`` token."""
    parts = token.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
        raise SchemaError(f"bad field spec {token!r}")
    name, number = parts[0], int(parts[1])
    spec = parts[2] if len(parts) == 3 else "s"
    keep_zero = spec.endswith("!")
    spec = spec.rstrip("!")
    repeated = kind = None
    if spec.startswith("*"):
        repeated, spec = True, spec[1:]
    elif spec.startswith("%"):
        kind, spec = "map", spec[1:]
    elif spec.startswith("^"):
        kind, spec = "inline", spec[1:]
    if spec in SCALARS:
        type_ = SCALARS[spec]
        kind = kind or "scalar"
        if kind == "inline":
            raise SchemaError(f"inline field {token!r} must name a message")
    elif spec[:1].isupper() and spec.isalnum():
        type_ = spec
        kind = kind or "message"
    else:
        raise SchemaError(f"unknown type in field spec {token!r}")
    if number < 1:
        raise SchemaError(f"field number must be positive in {token!r}")
    return number, FieldSpec(name, kind, type_, bool(repeated), keep_zero)


def parse_message(text: str) -> Message:
    """Parse one message spec (space-separated field tokens)."""
    fields: Message = {}
    for token in text.split():
        number, spec = parse_field(token)
        if number in fields:
            raise SchemaError(f"field number {number} used twice in {text!r}")
        fields[number] = spec
    return fields


def compile_schema(*tables: dict[str, str]) -> dict[str, Message]:
    """Compile spec tables into one schema; a message name may be defined once."""
    schema: dict[str, Message] = {}
    for table in tables:
        for name, text in table.items():
            if name in schema:
                raise SchemaError(f"message {name} defined twice")
            schema[name] = parse_message(text)
    return schema


def missing_messages(schema: dict[str, Message]) -> set[str]:
    """Message names referenced by some field but defined nowhere (should be empty)."""
    referenced = {
        spec.type
        for fields in schema.values()
        for spec in fields.values()
        if spec.kind in ("message", "inline") or (spec.kind == "map" and spec.type[:1].isupper())
    }
    return referenced - schema.keys()


SCHEMA: dict[str, Message] = compile_schema(
    proto_schema_meta.MESSAGES,
    proto_schema_core.MESSAGES,
    proto_schema_groups.APPS,
    proto_schema_groups.BATCH,
    proto_schema_groups.OTHERS,
)

_CORE_KINDS = (
    "Binding ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolumeClaim Pod"
    " PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount"
)

# (apiVersion, kind) -> top-level message, for the kinds whose bodies we decode.
KINDS: dict[tuple[str, str], str] = {
    **{("v1", kind): kind for kind in _CORE_KINDS.split()},
    **{
        ("apps/v1", kind): kind
        for kind in ("ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet")
    },
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("coordination.k8s.io/v1", "Lease"): "Lease",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("policy/v1", "Eviction"): "Eviction",
    ("policy/v1beta1", "Eviction"): "Eviction",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
    ("autoscaling/v1", "Scale"): "Scale",
}

# Option kinds that Kubernetes registers in every group version (a typed client
# sends DeleteOptions as "apps/v1", "batch/v1", ... depending on the resource).
ANY_VERSION_KINDS: dict[str, str] = {"DeleteOptions": "DeleteOptions", "Status": "Status"}


def message_for(api_version: str, kind: str) -> str | None:
    """The top-level message name for an envelope's apiVersion and kind, if known."""
    return KINDS.get((api_version, kind)) or ANY_VERSION_KINDS.get(kind)

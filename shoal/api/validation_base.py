"""Field errors and the shared validators: names, labels, selectors, metadata.

A ``FieldError`` is one problem at one Kubernetes field path
(``spec.containers[0].image``), with one of upstream's error types; its text
is exactly what ``kubectl`` users know: ``spec.containers[0].image: Required
value``. ``InvalidError`` gathers them for one object and renders the API's
message ``Pod "web" is invalid: ...`` and the ``details.causes`` of its Status.

Validators return lists of errors rather than raising, so one request reports
every problem at once, as upstream does.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from shoal.api.meta import LabelSelector, ObjectMeta

REQUIRED: Final = "Required value"
INVALID: Final = "Invalid value"
UNSUPPORTED: Final = "Unsupported value"
DUPLICATE: Final = "Duplicate value"
FORBIDDEN: Final = "Forbidden"
TOO_LONG: Final = "Too long"
TOO_MANY: Final = "Too many"
NOT_SUPPORTED: Final = "Not supported"
NOT_FOUND: Final = "Not found"

# Status cause reasons, as metav1.CauseType spells them.
_CAUSE = {
    REQUIRED: "FieldValueRequired",
    INVALID: "FieldValueInvalid",
    UNSUPPORTED: "FieldValueNotSupported",
    NOT_SUPPORTED: "FieldValueNotSupported",
    DUPLICATE: "FieldValueDuplicate",
    FORBIDDEN: "FieldValueForbidden",
    TOO_LONG: "FieldValueTooLong",
    TOO_MANY: "FieldValueTooMany",
    NOT_FOUND: "FieldValueNotFound",
}
_NO_VALUE = (REQUIRED, FORBIDDEN, TOO_LONG)


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()


def format_value(value: Any) -> str:
    """A bad value the way Go's field errors print it (strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``path: type[: value][: detail]``."""

    path: str
    type: str
    detail: str = ""
    value: Any = OMIT

    def body(self) -> str:
        if self.type in _NO_VALUE or self.value is OMIT:
            text = self.type
        else:
            text = f"{self.type}: {format_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def message(self) -> str:
        """The text without the path, as a ``StatusCause.message`` carries it."""
        return self.body()

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}" if self.path else self.body()

    @property
    def cause_reason(self) -> str:
        return _CAUSE.get(self.type, "FieldValueInvalid")

    def cause(self) -> dict[str, str]:
        """This error as a ``StatusCause`` (reason, message, field)."""
        return {"reason": self.cause_reason, "message": self.body(), "field": self.path}


class InvalidError(Exception):
    """An object failed validation (HTTP 422, reason ``Invalid``)."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__(self.aggregate())

    def aggregate(self) -> str:
        texts: list[str] = []
        for err in self.errors:
            text = str(err)
            if text not in texts:
                texts.append(text)
        if len(texts) == 1:
            return texts[0]
        return "[" + ", ".join(texts) + "]"

    def message(self, kind: str, name: str, *, group: str = "") -> str:
        """``Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: ...``."""
        qualified = f"{kind}.{group}" if group else kind
        return f'{qualified} "{name}" is invalid: {self.aggregate()}'

    def causes(self) -> list[dict[str, str]]:
        return [err.cause() for err in self.errors]


# --- paths -------------------------------------------------------------------------------


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int | str) -> str:
    return f"{path}[{i}]"


# --- constructors ------------------------------------------------------------------------


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(path, INVALID, detail, value)


def forbidden(path: str, detail: str = "") -> FieldError:
    return FieldError(path, FORBIDDEN, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, DUPLICATE, "", value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, NOT_FOUND, "", value)


def too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, TOO_LONG, f"must have at most {limit} bytes")


def unsupported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    listed = ", ".join(json.dumps(s) for s in supported)
    return FieldError(path, UNSUPPORTED, f"supported values: {listed}", value)


def one_of(path: str, value: str | None, supported: Iterable[str]) -> list[FieldError]:
    """An error unless ``value`` is None or one of ``supported``."""
    allowed = tuple(supported)
    if value is None or value in allowed:
        return []
    return [unsupported(path, value, allowed)]


def non_negative(path: str, value: int | None) -> list[FieldError]:
    if value is not None and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def positive(path: str, value: int | None) -> list[FieldError]:
    if value is not None and value <= 0:
        return [invalid(path, value, "must be greater than zero")]
    return []


def immutable(path: str, new: Any, old: Any) -> list[FieldError]:
    if new != old:
        return [invalid(path, _plain(new), "field is immutable")]
    return []


def _plain(value: Any) -> Any:
    import msgspec

    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    return value


# --- names -----------------------------------------------------------------------------------

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = rf"({QUALIFIED_NAME})?"
_RE = {p: re.compile(f"^{p}$") for p in (DNS1123_LABEL, DNS1123_SUBDOMAIN, DNS1035_LABEL)}
_QUALIFIED = re.compile(f"^{QUALIFIED_NAME}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE}$")
_IANA = re.compile("^[-a-z0-9]+$")
_HAS_LETTER = re.compile("[a-z]")


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label(value: str) -> list[str]:
    msgs = []
    if len(value) > 63:
        msgs.append(_max_len(63))
    if not _RE[DNS1123_LABEL].match(value):
        msgs.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{DNS1123_LABEL}')"
        )
    return msgs


def dns1123_subdomain(value: str) -> list[str]:
    msgs = []
    if len(value) > 253:
        msgs.append(_max_len(253))
    if not _RE[DNS1123_SUBDOMAIN].match(value):
        msgs.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')"
        )
    return msgs


def dns1035_label(value: str) -> list[str]:
    msgs = []
    if len(value) > 63:
        msgs.append(_max_len(63))
    if not _RE[DNS1035_LABEL].match(value):
        msgs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{DNS1035_LABEL}')"
        )
    return msgs


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: ``[prefix/]name``, the prefix a DNS subdomain."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        return [f"prefix part {m}" for m in dns1123_subdomain(prefix)] + _name_part(name)
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
            f"or '123-abc', regex used for validation is '{QUALIFIED_NAME}') with an optional "
            "DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    return _name_part(name)


def _name_part(name: str) -> list[str]:
    if not name:
        return ["name part must be non-empty"]
    msgs = []
    if len(name) > 63:
        msgs.append("name part " + _max_len(63))
    if not _QUALIFIED.match(name):
        msgs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{QUALIFIED_NAME}')"
        )
    return msgs


def label_value(value: str) -> list[str]:
    msgs = []
    if len(value) > 63:
        msgs.append(_max_len(63))
    if not _LABEL_VALUE.match(value):
        msgs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
            f"or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')"
        )
    return msgs


def iana_svc_name(value: str) -> list[str]:
    """A named port: at most 15 lowercase alphanumerics or '-', with a letter."""
    msgs = []
    if len(value) > 15:
        msgs.append(_max_len(15))
    if not _IANA.match(value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if not _HAS_LETTER.search(value):
        msgs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        msgs.append("must not begin or end with a hyphen")
    return msgs


@functools.lru_cache(maxsize=8192)
def _messages(fn: Any, value: str) -> tuple[str, ...]:
    return tuple(fn(value))


def check(path: str, value: str, *checks: Any) -> list[FieldError]:
    """Run string checkers (``value -> [messages]``) into Invalid-value errors.

    The checkers are pure, and the same names, label keys and values come back with every object
    of a workload, so their answers for short strings are remembered (an LRU of 8,192; a long
    string, valid or not, is checked each time and never held).
    """
    if type(value) is str and len(value) <= 256:
        return [invalid(path, value, msg) for fn in checks for msg in _messages(fn, value)]
    return [invalid(path, value, msg) for fn in checks for msg in fn(value)]


def port_number(path: str, value: int) -> list[FieldError]:
    if not 1 <= value <= 65535:
        return [invalid(path, value, "must be between 1 and 65535, inclusive")]
    return []


def port_number_or_name(path: str, value: int | str) -> list[FieldError]:
    if isinstance(value, int):
        return port_number(path, value)
    return check(path, value, iana_svc_name)


# --- labels, annotations, selectors -----------------------------------------------------------

TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_labels(labels: Mapping[str, str] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs += check(path, key, qualified_name)
        errs += check(path, value, label_value)
    return errs


def validate_annotations(annotations: Mapping[str, str] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key, value in (annotations or {}).items():
        errs += check(path, key.lower(), qualified_name)
        total += len(key) + len(value)
    if total > TOTAL_ANNOTATION_SIZE:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return errs


SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: LabelSelector | None, path: str) -> list[FieldError]:
    if selector is None:
        return []
    errs = validate_labels(selector.match_labels, child(path, "matchLabels"))
    for i, req in enumerate(selector.match_expressions or []):
        at = index(child(path, "matchExpressions"), i)
        if req.operator in ("In", "NotIn"):
            if not req.values:
                errs.append(
                    required(
                        child(at, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif req.operator in ("Exists", "DoesNotExist"):
            if req.values:
                errs.append(
                    forbidden(
                        child(at, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(
                invalid(child(at, "operator"), req.operator, "not a valid selector operator")
            )
        errs += check(child(at, "key"), req.key, qualified_name)
    return errs


def selector_matches(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` satisfy ``selector`` (an empty selector matches everything)."""
    labels = labels or {}
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        present = req.key in labels
        values = req.values or []
        if req.operator == "In" and not (present and labels[req.key] in values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: LabelSelector) -> bool:
    return not selector.match_labels and not selector.match_expressions


# --- object metadata -------------------------------------------------------------------------


def validate_object_meta(
    meta: ObjectMeta | None,
    *,
    namespaced: bool,
    name_check: Any = dns1123_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """Name or generateName, namespace scope, labels, annotations, owners, finalizers."""
    if meta is None:
        return [required(path)]
    errs: list[FieldError] = []
    if meta.generate_name:
        prefix = meta.generate_name
        masked = prefix[:-1] + "a" if prefix.endswith("-") else prefix
        errs += check(child(path, "generateName"), prefix, lambda _v: name_check(masked))
    if not meta.name:
        if not meta.generate_name:
            errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs += check(child(path, "name"), meta.name, name_check)
    ns_path = child(path, "namespace")
    if namespaced:
        if not meta.namespace:
            errs.append(required(ns_path))
        else:
            errs += check(ns_path, meta.namespace, dns1123_label)
    elif meta.namespace:
        errs.append(forbidden(ns_path, "not allowed on this type"))
    if meta.generation is not None and meta.generation < 0:
        errs.append(
            invalid(
                child(path, "generation"), meta.generation, "must be greater than or equal to 0"
            )
        )
    errs += validate_labels(meta.labels, child(path, "labels"))
    errs += validate_annotations(meta.annotations, child(path, "annotations"))
    for i, ref in enumerate(meta.owner_references or []):
        at = index(child(path, "ownerReferences"), i)
        for field_name, value in (
            ("apiVersion", ref.api_version),
            ("kind", ref.kind),
            ("name", ref.name),
            ("uid", ref.uid),
        ):
            if not value:
                errs.append(
                    invalid(child(at, field_name), value, f"{field_name} must not be empty")
                )
    controllers = [r for r in meta.owner_references or [] if r.controller]
    if len(controllers) > 1:
        errs.append(
            invalid(
                child(path, "ownerReferences"),
                [r.name for r in controllers],
                "Only one reference can have Controller set to true",
            )
        )
    for i, fin in enumerate(meta.finalizers or []):
        errs += check(index(child(path, "finalizers"), i), fin, qualified_name)
    return errs


def validate_object_meta_update(
    new: ObjectMeta | None, old: ObjectMeta | None, *, path: str = "metadata"
) -> list[FieldError]:
    """What may never change: name, namespace, uid, creationTimestamp, generateName-once."""
    if new is None or old is None:
        return []
    errs: list[FieldError] = []
    errs += immutable(child(path, "name"), new.name, old.name)
    errs += immutable(child(path, "namespace"), new.namespace, old.namespace)
    if old.uid:
        errs += immutable(child(path, "uid"), new.uid, old.uid)
    if old.creation_timestamp:
        errs += immutable(
            child(path, "creationTimestamp"), new.creation_timestamp, old.creation_timestamp
        )
    if old.deletion_timestamp and new.deletion_timestamp != old.deletion_timestamp:
        errs.append(
            invalid(child(path, "deletionTimestamp"), new.deletion_timestamp, "field is immutable")
        )
    if old.deletion_timestamp:
        added = [f for f in new.finalizers or [] if f not in (old.finalizers or [])]
        if added:
            errs.append(
                forbidden(
                    child(path, "finalizers"),
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {format_value(added)}",
                )
            )
    return errs

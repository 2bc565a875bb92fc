"""Label maps and label selectors written as kubectl shows them.

``app=web,tier=db`` for a map (``labels.FormatLabels``), and the selector
string syntax (``app=web,env in (dev,prod),!legacy``) for a LabelSelector, with
requirements sorted by key as ``labels.Selector.String`` sorts them.
"""

from __future__ import annotations

from shoal.apiserver.tables.fields import NONE, as_dict, as_list, as_str


def format_labels(labels: object) -> str:
    """``k=v`` pairs sorted by key, comma-joined; ``<none>`` when empty."""
    pairs = as_dict(labels)
    if not pairs:
        return NONE
    return ",".join(f"{k}={as_str(pairs[k])}" for k in sorted(pairs))


def selector_string(selector: object) -> str | None:
    """The selector in label-selector syntax; ``""`` if it selects nothing or
    everything, None if it is invalid (an unknown operator, or values missing
    where the operator needs them)."""
    sel = as_dict(selector)
    requirements: list[tuple[str, str]] = []
    for key, value in as_dict(sel.get("matchLabels")).items():
        requirements.append((key, f"{key}={as_str(value)}"))
    for raw in as_list(sel.get("matchExpressions")):
        expr = as_dict(raw)
        key = as_str(expr.get("key"))
        op = as_str(expr.get("operator"))
        values = sorted(as_str(v) for v in as_list(expr.get("values")))
        if op in ("In", "NotIn"):
            if not values:
                return None
            word = "in" if op == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
            requirements.append((key, key if op == "Exists" else f"!{key}"))
        else:
            return None
    requirements.sort(key=lambda item: item[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: object) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` for an empty selector, ``<error>`` for a bad one."""
    text = selector_string(selector)
    if text is None:
        return "<error>"
    return text or NONE

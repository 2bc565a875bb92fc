"""The OpenAPI v2 (Swagger 2.0) document, ``GET /openapi/v2``: the v3 documents, merged and rewritten.

kubectl 1.32 still reads v2 for client-side validation of a ``kind: List``
(``kubectl get deploy -o yaml > all.yaml && kubectl apply -f all.yaml``): it
looks each item's kind up by ``x-kubernetes-group-version-kind`` among the
v2 ``definitions``, and it asks for v2 only as protobuf (``v2proto``). The
document is built from the same models as v3, by converting the per group
version v3 documents rather than walking the models a second time:

* every group version's ``components.schemas`` become one ``definitions``
  (a shared body such as DeleteOptions gathers every group version's GVK tag);
* ``#/components/schemas/`` references become ``#/definitions/``, and a
  reference wrapped in ``allOf`` to keep its description is a plain ``$ref``
  with siblings again, as upstream's v2 writes it;
* int-or-string schemas (v3 ``oneOf``) are ``type: string`` (IntOrString with
  ``format: int-or-string``), which is what upstream's v2 says and what
  kubectl's v2 validator accepts any scalar for; v3-only keywords are dropped;
* operations get ``consumes``/``produces``/``schemes``, a ``body`` parameter
  for a request body, and ``schema`` in their responses; query and path
  parameters carry their type inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"
GVK = "x-kubernetes-group-version-kind"
_V3_ONLY = frozenset({"oneOf", "anyOf", "not", "nullable", "writeOnly", "deprecated"})
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def convert_schema(schema: Any) -> Any:
    """A v3 schema (and everything in it) as v2."""
    if isinstance(schema, list):
        return [convert_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict) and "$ref" in all_of[0]:
        out["$ref"] = V2_PREFIX + str(all_of[0]["$ref"]).removeprefix(V3_PREFIX)
    for k, v in schema.items():
        if k in _V3_ONLY or (k == "allOf" and "$ref" in out):
            continue
        if k == "$ref":
            out[k] = V2_PREFIX + str(v).removeprefix(V3_PREFIX)
        elif k in ("properties", "definitions"):
            out[k] = {name: convert_schema(s) for name, s in v.items()}
        elif k in ("items", "additionalProperties", "allOf"):
            out[k] = convert_schema(v)
        else:
            out[k] = v
    if schema.get("x-kubernetes-int-or-string") and "type" not in out:
        out["type"] = "string"
    return out


def _media_schema(content: Mapping[str, Any]) -> Any:
    for media in content.values():
        if isinstance(media, dict) and "schema" in media:
            return convert_schema(media["schema"])
    return None


def convert_parameter(param: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in param.items() if k != "schema"}
    schema = param.get("schema")
    if isinstance(schema, dict):
        out.update(convert_schema(schema))
    return out


def convert_operation(op: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    body = op.get("requestBody")
    consumes = list((body or {}).get("content") or {}) or ["*/*"]
    produces: list[str] = []
    for resp in (op.get("responses") or {}).values():
        for media in (resp.get("content") or {}) if isinstance(resp, dict) else ():
            if media not in produces:
                produces.append(media)
    for k, v in op.items():
        if k == "parameters":
            continue
        if k in ("requestBody", "responses"):
            continue
        out[k] = v
    out["consumes"] = consumes
    out["produces"] = produces or ["application/json"]
    out["schemes"] = ["https"]
    params = [convert_parameter(p) for p in op.get("parameters") or []]
    if body is not None:
        schema = _media_schema(body.get("content") or {})
        body_param: dict[str, Any] = {"name": "body", "in": "body"}
        if body.get("required"):
            body_param["required"] = True
        body_param["schema"] = schema if schema is not None else {"type": "object"}
        params.insert(0, body_param)
    if params:
        out["parameters"] = params
    responses: dict[str, Any] = {}
    for code, resp in (op.get("responses") or {}).items():
        r: dict[str, Any] = {"description": resp.get("description", "")}
        schema = _media_schema(resp.get("content") or {})
        if schema is not None:
            r["schema"] = schema
        responses[code] = r
    out["responses"] = responses
    return out


def convert_path_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if k in _METHODS:
            out[k] = convert_operation(v)
        elif k == "parameters":
            out[k] = [convert_parameter(p) for p in v]
        else:
            out[k] = v
    return out


def _merge_definition(have: dict[str, Any], new: dict[str, Any]) -> None:
    """A definition met again in another group version: gather its GVK tags."""
    tags = have.get(GVK)
    more = new.get(GVK)
    if isinstance(tags, list) and isinstance(more, list):
        for t in more:
            if t not in tags:
                tags.append(t)


def build_v2(documents: Iterable[Mapping[str, Any]], *, version: str) -> dict[str, Any]:
    """One Swagger 2.0 document from every group version's OpenAPI 3.0 document."""
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for doc in documents:
        for path, item in (doc.get("paths") or {}).items():
            paths[path] = convert_path_item(item)
        for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
            converted = convert_schema(schema)
            if name in definitions:
                _merge_definition(definitions[name], converted)
            else:
                definitions[name] = converted
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey",
                                                "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }

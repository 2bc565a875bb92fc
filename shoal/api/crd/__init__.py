"""CustomResourceDefinitions: structural schemas, CEL rules and the kinds a CRD defines. Pure.

* ``structural``: whether a schema is structural (upstream's reasons if not);
* ``schema``: a schema compiled once per CRD version, to prune, default and
  validate custom resources with kube-openapi's messages;
* ``rules``: ``x-kubernetes-validations`` in CEL (compiled once, ``self`` and
  ``oldSelf``);
* ``jsonpath``: the JSONPath subset of printer columns and the scale paths;
* ``kind``: a CRD's served versions as ``CustomKind`` (a ``ResourceInfo`` plus
  all of the above), and ``structural_schema(info)`` for server-side apply;
* ``validation``: the CRD object's own validation.

The API server (``shoal.apiserver.crd``) installs and removes custom kinds as
CRDs come and go; nothing here does I/O.
"""

from shoal.api.crd.kind import CustomKind, custom_kinds, custom_of, structural_schema

__all__ = ["CustomKind", "custom_kinds", "custom_of", "structural_schema"]

"""Authorization: who may do what, answered by RBAC from an in-memory index.

``attributes`` turns a request into what is decided on (upstream's
RequestInfo), ``rules`` matches one request against typed policy rules (pure),
``index`` keeps roles and bindings by subject from the store's watch, ``rbac``
decides (``system:masters`` first, then the subject's rules), ``escalation``
keeps anyone from granting what they lack, ``defaults`` holds upstream's
bootstrap roles, ``aggregate`` computes aggregated ClusterRoles,
``impersonation`` honours ``Impersonate-*`` headers and ``reviews`` serves the
access reviews behind ``kubectl auth can-i``.
"""

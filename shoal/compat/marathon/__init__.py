"""Marathon's REST API v2 under ``/marathon/v2/`` on the API server's port, for Marathon's users and tools.

``app`` is the aiohttp surface (routes, Marathon's error bodies, the event
stream), ``backend`` what each operation reads and writes through
``shoal.client``, as the caller: every request carries the caller's own
token to the Kubernetes API, so authentication, RBAC and admission decide
as they do for kubectl. The translations are pure, in
``shoal.formats.marathon``.
"""

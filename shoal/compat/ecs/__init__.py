"""The Amazon ECS API (JSON 1.1, SigV4) for the AWS CLI and SDKs, served under ``/ecs`` on the API port.

``sigv4`` checks signatures (pure), ``credentials`` issues and finds the keys
(Secrets bound to a user), ``authz`` asks the API server whether that user may
do what an operation writes and reads, ``backend`` does each operation
through ``shoal.client``, ``app`` is the HTTP surface, ``essential`` stops
standalone tasks whose essential container exited. The translations are pure,
in ``shoal.formats.ecs``.
"""

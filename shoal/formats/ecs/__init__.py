"""Amazon ECS task definitions and services onto shoal's objects, and back. Pure.

``errors`` is ECS's error shape (``__type`` and message); ``names`` the ARNs,
ids and Kubernetes names; ``taskdef`` validates a task definition as ECS does
and turns it into a pod template; ``query`` parses the cluster query language
(``memberOf`` expressions, ``ListContainerInstances --filter``); ``placement``
maps placement constraints and strategies onto scheduling fields; ``service``
turns a service into a Deployment (+ a Service for its load balancers) and
reads a Deployment back as ECS's service; ``views`` reads pods and nodes back
as tasks and container instances. The HTTP surface is ``shoal.compat.ecs``.
"""

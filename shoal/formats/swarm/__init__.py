"""Docker Swarm's objects as shoal's Kubernetes objects, in both directions. Pure.

A Swarm ``ServiceSpec`` becomes a Deployment (replicated), a DaemonSet
(global) or a Job (replicated-job / global-job is not offered) and one or two
Services; a Swarm task is a pod, a Swarm node a Node, a secret a Secret and a
config a ConfigMap. Every translation has its inverse, so what ``kubectl``
changes shows in ``docker service inspect`` and what ``docker service update``
sends back lands on the same objects (``tests/formats/test_swarm_*``).

Modules: ``names`` (Swarm names and ids onto namespaces and DNS names),
``wire`` (Docker's JSON: case-insensitive field names, durations),
``placement`` (constraints and preferences onto affinity and spread),
``service`` (ServiceSpec <-> workload + Services), ``status`` (replicas,
update status), ``tasks`` (pod -> task), ``nodes``, ``data`` (secrets,
configs, networks).
"""

from shoal.formats.swarm.wire import SpecError

__all__ = ["SpecError"]

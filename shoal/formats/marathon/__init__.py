"""Marathon's app and group JSON onto shoal's objects, and back. Pure: no I/O.

An app is a Deployment (a StatefulSet when it has persistent local volumes:
Marathon gives each task its own volume, which is a claim template) plus a
Service for its ports, all in the namespace ``marathon``; its id's groups are
kept in an annotation (docs/decisions.md says why groups are not namespaces).

- ``errors``: Marathon's error bodies (422 "Object is not valid", 404, 409).
- ``ids``: path ids, their Kubernetes names, versions.
- ``validate``: an app as posted -> the app with Marathon's defaults, or 422.
- ``placement``: constraints -> affinity, topology spread, node selectors.
- ``probes``: healthChecks / readinessChecks -> probes.
- ``app``: a normalised app -> objects, objects (+ pods) -> Marathon's JSON.
- ``tasks``: pods -> Marathon tasks; rollout state -> Marathon deployments.
- ``groups``: group JSON <-> apps; dependency order.
- ``events``: two states of an object -> the event bus's events.
"""

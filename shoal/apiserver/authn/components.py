"""Who shoal's own components are when they call the API: upstream's identities, not ``system:masters``.

``shoal server`` runs the scheduler, the controller manager, the node's agent
(its kubelet, service proxy, DNS and overlay) and the ingress proxy beside the
API; each reaches the API with a random bearer token minted at start for its
own user, so RBAC (and, for the node, the Node authorizer) decides what it
may do, as for kube-scheduler, kube-controller-manager and a kubelet:

* ``system:kube-scheduler``: upstream's ``system:kube-scheduler`` and
  ``system:volume-scheduler`` roles;
* ``system:kube-controller-manager``: upstream's ``system:kube-controller-manager``
  role plus ``system:shoal:controller-manager``, the union of the per-controller
  roles upstream gives each controller's own service account with
  ``--use-service-account-credentials`` (shoal runs every controller under one
  identity);
* ``system:node:<name>`` in ``system:nodes``: the Node authorizer, and RBAC's
  ``system:shoal:node-agent`` for shoal's node parts;
* ``system:shoal:ingress``: the ingress proxy reads every Ingress, Gateway and
  their TLS Secrets (as an ingress controller's service account does upstream);
* ``system:shoal:docker-api`` and ``system:shoal:ecs-api``: the compatibility
  APIs act for callers they have authorized themselves (the Docker socket's
  owner, a TLS client RBAC lets do everything; ECS asks RBAC about each
  request's user), so they hold ``cluster-admin`` through a binding, not
  ``system:masters``.

``system:shoal`` (the server's own loopback, in ``system:masters``, as
upstream's) is left for the server's bootstrap writes. Plain data; pure.
"""

from __future__ import annotations

from shoal.apiserver.authn.user import User

AUTHENTICATED = "system:authenticated"
NODES = "system:nodes"
NODE_PREFIX = "system:node:"

APISERVER = User("system:shoal", ("system:masters", AUTHENTICATED))
SCHEDULER = User("system:kube-scheduler", (AUTHENTICATED,))
CONTROLLER_MANAGER = User("system:kube-controller-manager", (AUTHENTICATED,))
INGRESS = User("system:shoal:ingress", (AUTHENTICATED,))
DOCKER_API = User("system:shoal:docker-api", (AUTHENTICATED,))
ECS_API = User("system:shoal:ecs-api", (AUTHENTICATED,))
# the node join token's user: it only bootstraps a node's own credential (upstream's bootstrap token user)
BOOTSTRAPPERS = "system:bootstrappers"
NODE_BOOTSTRAP = User("system:bootstrap:node-token", (BOOTSTRAPPERS, AUTHENTICATED))


def node(name: str) -> User:
    """A node's user, as a kubelet's client certificate names it."""
    return User(f"{NODE_PREFIX}{name}", (NODES, AUTHENTICATED))


def node_name(user: User) -> str | None:
    """The node a user is (upstream's ``NodeIdentifier``): ``system:node:<name>`` in ``system:nodes``."""
    if NODES not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return user.name[len(NODE_PREFIX):] or None

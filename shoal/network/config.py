"""The cluster's network settings, published once by the server for every node to read.

``shoal server`` owns the address plan (``--cluster-cidr``, ``--service-cidr``,
``--network-backend``); an agent on another machine needs it too (which
traffic leaves the cluster and is masqueraded, which service CIDR to route
locally, which overlay to build). As flannel reads its ``net-conf.json`` from
the ``kube-flannel-cfg`` ConfigMap, the server writes the ConfigMap
``kube-system/shoal-network`` with a ``net-conf.json`` of the same shape
(``Network``, ``Backend.Type``/``VNI``/``Port``, plus ``ServiceNetwork``) and
each agent reads it when it starts; its own flags win. A cluster without the
ConfigMap (an older server) gets the defaults, which are k3s's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from shoal.client import ApiClient, ApiException

log = logging.getLogger(__name__)

NAMESPACE, NAME, KEY = "kube-system", "shoal-network", "net-conf.json"
BACKENDS = ("vxlan", "host-gw", "none")
DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"
DEFAULT_SERVICE_CIDR = "10.43.0.0/16"
VXLAN_VNI = 1
VXLAN_PORT = 8472  # flannel's (the Linux default, 8472, not IANA's 4789)


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    cluster_cidr: str = DEFAULT_CLUSTER_CIDR
    service_cidr: str = DEFAULT_SERVICE_CIDR
    backend: str = "vxlan"
    vni: int = VXLAN_VNI
    port: int = VXLAN_PORT

    def to_json(self) -> str:
        return json.dumps({"Network": self.cluster_cidr, "ServiceNetwork": self.service_cidr,
                           "Backend": {"Type": self.backend, "VNI": self.vni, "Port": self.port}}, indent=2)

    @staticmethod
    def from_json(text: str) -> NetworkConfig | None:
        """The settings in ``text``; None if it is not a net-conf.json this version understands."""
        try:
            raw = json.loads(text)
            backend = raw.get("Backend") or {}
            cfg = NetworkConfig(cluster_cidr=str(raw["Network"]),
                                service_cidr=str(raw.get("ServiceNetwork") or DEFAULT_SERVICE_CIDR),
                                backend=str(backend.get("Type") or "vxlan"),
                                vni=int(backend.get("VNI") or VXLAN_VNI), port=int(backend.get("Port") or VXLAN_PORT))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return cfg if cfg.backend in BACKENDS else None


def configmap(cfg: NetworkConfig) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": {KEY: cfg.to_json()}}


async def publish(client: ApiClient, cfg: NetworkConfig) -> None:
    """Create or update the ConfigMap (the server's flags are the truth)."""
    body = configmap(cfg)
    try:
        await client.create("configmaps", body, NAMESPACE)
    except ApiException as e:
        if e.status != 409:
            raise
        await client.patch("configmaps", NAME, {"data": body["data"]}, NAMESPACE)


async def fetch(client: ApiClient) -> NetworkConfig | None:
    """The cluster's settings, None where there are none (or none this version reads)."""
    try:
        cm = await client.get("configmaps", NAME, NAMESPACE)
    except ApiException as e:
        if e.status in (403, 404):
            return None
        raise
    text = ((cm or {}).get("data") or {}).get(KEY)
    cfg = NetworkConfig.from_json(text) if isinstance(text, str) else None
    if cfg is None:
        log.warning("ConfigMap %s/%s has no %s this version understands; using the defaults", NAMESPACE, NAME, KEY)
    return cfg

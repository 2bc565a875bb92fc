"""Service discovery, policy and routing kinds: Service, Endpoints, EndpointSlice, NetworkPolicy, Ingress(Class).

PORT(S) is ``port/PROTOCOL`` or ``port:nodePort/PROTOCOL``; EXTERNAL-IP depends
on the service type (``<pending>`` for a LoadBalancer still waiting for an
address, the DNS name for ExternalName). Endpoint lists show the first three
addresses and ``+ N more...``, as upstream does.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import (
    NONE,
    Obj,
    age_of,
    as_dict,
    as_int,
    as_list,
    as_str,
    dig,
)
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column
from shoal.apiserver.tables.selectors import format_label_selector, format_labels

MAX_LISTED = 3

SERVICE_COLUMNS = (
    name_column(),
    Column("Type", description="type determines how the Service is exposed."),
    Column(
        "Cluster-IP",
        description="clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    Column(
        "External-IP",
        description="externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    age_column(),
    Column(
        "Selector",
        priority=1,
        description="Route service traffic to pods with label keys and values matching this selector.",
    ),
)


def _load_balancer_ips(service: Obj) -> list[str]:
    found: set[str] = set()
    for ingress in views.load_balancer_ingress(service):
        value = as_str(ingress.get("ip")) or as_str(ingress.get("hostname"))
        if value:
            found.add(value)
    return sorted(found)


def service_external_ip(service: Obj) -> str:
    spec = as_dict(service.get("spec"))
    kind = as_str(spec.get("type")) or "ClusterIP"
    external = [as_str(ip) for ip in as_list(spec.get("externalIPs"))]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if kind == "LoadBalancer":
        addresses = _load_balancer_ips(service) + external
        return ",".join(addresses) if addresses else "<pending>"
    if kind == "ExternalName":
        return as_str(spec.get("externalName"))
    return "<unknown>"


def service_ports(service: Obj) -> str:
    pieces = []
    for raw in as_list(dig(service, "spec", "ports")):
        port = as_dict(raw)
        number = as_int(port.get("port"))
        protocol = as_str(port.get("protocol")) or "TCP"
        node_port = as_int(port.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{number}:{node_port}/{protocol}")
        else:
            pieces.append(f"{number}/{protocol}")
    return ",".join(pieces) or NONE


def service_row(service: Obj, now: datetime) -> list[Cell]:
    spec = as_dict(service.get("spec"))
    cluster_ips = as_list(spec.get("clusterIPs"))
    cluster_ip = as_str(cluster_ips[0]) if cluster_ips else as_str(spec.get("clusterIP"))
    return [
        views.name(service),
        as_str(spec.get("type")) or "ClusterIP",
        cluster_ip or NONE,
        service_external_ip(service),
        service_ports(service),
        age_of(service, now),
        format_labels(spec.get("selector")),
    ]


def _with_more(items: list[str], count: int, *, empty: str) -> str:
    text = ",".join(items[:MAX_LISTED])
    if count > MAX_LISTED:
        return f"{text} + {count - MAX_LISTED} more..."
    return text or empty


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_endpoints(endpoints: Obj) -> str:
    subsets = [as_dict(s) for s in as_list(endpoints.get("subsets"))]
    if not subsets:
        return NONE
    listed: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [as_str(as_dict(a).get("ip")) for a in as_list(subset.get("addresses"))]
        ports = [as_dict(p) for p in as_list(subset.get("ports"))]
        if not ports:  # a headless service without ports lists bare addresses
            count += len(addresses)
            listed.extend(addresses)
            continue
        for port in ports:
            count += len(addresses)
            listed.extend(_host_port(ip, as_int(port.get("port"))) for ip in addresses)
    return _with_more(listed, count, empty="")


ENDPOINTS_COLUMNS = (
    name_column(),
    Column("Endpoints", description="The set of all endpoints is the union of all subsets."),
    age_column(),
)


def endpoints_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), format_endpoints(obj), age_of(obj, now)]


ENDPOINTSLICE_COLUMNS = (
    name_column(),
    Column(
        "AddressType",
        description="addressType specifies the type of address carried by this EndpointSlice.",
    ),
    Column(
        "Ports",
        description="ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    Column("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
    age_column(),
)


def _slice_ports(slice_: Obj) -> str:
    ports = [as_dict(p) for p in as_list(slice_.get("ports"))]
    shown = []
    for port in ports:
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            shown.append(str(number))
        elif isinstance(port.get("name"), str):
            shown.append(port["name"])
        else:
            shown.append("*")
    return _with_more(shown, len(shown), empty="<unset>")


def _slice_endpoints(slice_: Obj) -> str:
    addresses = [
        as_str(address)
        for endpoint in as_list(slice_.get("endpoints"))
        for address in as_list(as_dict(endpoint).get("addresses"))
    ]
    return _with_more(addresses, len(addresses), empty="<unset>")


def endpointslice_row(obj: Obj, now: datetime) -> list[Cell]:
    return [
        views.name(obj),
        as_str(obj.get("addressType")),
        _slice_ports(obj),
        _slice_endpoints(obj),
        age_of(obj, now),
    ]


NETWORK_POLICY_COLUMNS = (
    name_column(),
    Column("Pod-Selector",
           description="Selects the pods to which this NetworkPolicy object applies. The array of ingress rules "
                       "is applied to any pods selected by this field. Multiple network policies can select the "
                       "same set of pods. In this case, the ingress rules for each are combined additively. This "
                       "field is NOT optional and follows standard label selector semantics. An empty "
                       "podSelector matches all pods in this namespace."),
    age_column(),
)


def network_policy_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), format_label_selector(dig(obj, "spec", "podSelector")),
            age_of(obj, now)]


INGRESS_COLUMNS = (
    name_column(),
    Column("Class", description="ingressClassName is the name of an IngressClass cluster resource."),
    Column("Hosts", description="Hosts that incoming requests are matched against."),
    Column("Address", description="Address is a list containing ingress points for the load-balancer."),
    Column("Ports", description="Ports of TLS configurations that open"),
    age_column(),
)


def _ingress_hosts(obj: Obj) -> str:
    hosts = [as_str(r.get("host")) or "*" for r in as_list(dig(obj, "spec", "rules")) if isinstance(r, dict)]
    if not hosts:
        return "*"
    more = len(hosts) - MAX_LISTED
    return ",".join(hosts[:MAX_LISTED]) + (f" + {more} more..." if more > 0 else "")


def ingress_row(obj: Obj, now: datetime) -> list[Cell]:
    lb = [as_dict(i) for i in as_list(dig(obj, "status", "loadBalancer", "ingress"))]
    address = ",".join(as_str(i.get("ip")) or as_str(i.get("hostname")) for i in lb)
    ports = "80, 443" if as_list(dig(obj, "spec", "tls")) else "80"
    return [views.name(obj), as_str(dig(obj, "spec", "ingressClassName")) or NONE, _ingress_hosts(obj),
            address, ports, age_of(obj, now)]


INGRESS_CLASS_COLUMNS = (
    name_column(),
    Column("Controller", description="controller refers to the name of the controller that should handle this "
                                     "class."),
    Column("Parameters", description="parameters is a link to a custom resource containing additional "
                                     "configuration for the controller."),
    age_column(),
)


def ingress_class_row(obj: Obj, now: datetime) -> list[Cell]:
    p = as_dict(dig(obj, "spec", "parameters"))
    params = NONE
    if p:
        group = as_str(p.get("apiGroup"))
        params = f"{p.get('kind')}.{group}/{p.get('name')}" if group else f"{p.get('kind')}/{p.get('name')}"
    return [views.name(obj), as_str(dig(obj, "spec", "controller")), params, age_of(obj, now)]


PRINTERS = {
    "Ingress": Printer(INGRESS_COLUMNS, ingress_row),
    "IngressClass": Printer(INGRESS_CLASS_COLUMNS, ingress_class_row),
    "Service": Printer(SERVICE_COLUMNS, service_row),
    "NetworkPolicy": Printer(NETWORK_POLICY_COLUMNS, network_policy_row),
    "Endpoints": Printer(ENDPOINTS_COLUMNS, endpoints_row),
    "EndpointSlice": Printer(ENDPOINTSLICE_COLUMNS, endpointslice_row),
}

"""The human text of the OpenAPI documents: what ``kubectl explain`` prints.

The models carry types, not prose, so the descriptions live here, keyed by the
schema's short name (the class name) and the field's wire name; they apply to
upstream (``io.k8s.``) schemas only. A field with no
entry for its own type falls back to ``COMMON_FIELDS`` (``metadata``, ``spec``...)
and then to nothing; a description set on the model itself
(``msgspec.Meta(description=...)``) is kept when this table has none.
Keep each entry to a sentence or two, written for a user reading ``explain``.
"""

from __future__ import annotations

from shoal.api.openapi import descriptions_statefulset, descriptions_storage

_API_VERSION = (
    "APIVersion defines the versioned schema of this representation of an object. "
    "Servers convert recognized schemas to the latest internal value and may reject "
    "unrecognized values."
)
_KIND = (
    "Kind is a string value representing the REST resource this object represents. "
    "Servers may infer it from the endpoint the client submits requests to. "
    "Cannot be updated. In CamelCase."
)

# Fields of every top-level kind (objects with apiVersion and kind).
OBJECT_FIELDS: dict[str, str] = {
    "apiVersion": _API_VERSION,
    "kind": _KIND,
    "metadata": "Standard object's metadata: name, namespace, labels, annotations and the "
    "fields the system sets.",
    "spec": "The desired behavior of the object, written by its user.",
    "status": "The most recently observed status of the object, written by the system. Read-only.",
    "items": "The list of objects.",
}

# Fields of every ``...Condition`` type.
CONDITION_FIELDS: dict[str, str] = {
    "type": "Type of the condition, in CamelCase (for example Ready or Available).",
    "status": "Status of the condition, one of True, False, Unknown.",
    "reason": "A machine-readable, CamelCase reason for the condition's last transition.",
    "message": "A human-readable message with details about the last transition.",
    "lastTransitionTime": "The last time the condition moved from one status to another.",
    "lastUpdateTime": "The last time this condition was updated.",
    "lastProbeTime": "The last time the condition was probed.",
    "lastHeartbeatTime": "The last time the condition was reported by its source.",
    "observedGeneration": "The metadata.generation the condition was set from.",
}

# Fields whose meaning is the same wherever they appear.
COMMON_FIELDS: dict[str, str] = {
    "conditions": "The latest available observations of the object's current state.",
    "observedGeneration": "The most recent generation (metadata.generation) the controller "
    "has observed.",
    "selector": "A label query over the objects this one manages; they must match it.",
    "template": "The template of the pods this object creates.",
}

KINDS: dict[str, str] = {
    "Pod": "Pod is a collection of containers that can run on a host. This resource is "
    "created by clients and scheduled onto hosts.",
    "Namespace": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    "Node": "Node is a worker in Kubernetes. Each node has a unique identifier in the cache "
    "(i.e. in etcd).",
    "Service": "Service is a named abstraction of software service (for example, mysql) "
    "consisting of a local port that the proxy listens on, and the selector that determines "
    "which pods will answer requests sent through the proxy.",
    "Endpoints": "Endpoints is a collection of endpoints that implement the actual service.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type. The total bytes of the values in "
    "the Data field must be less than 1 MiB.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "ServiceAccount": "ServiceAccount binds together a name understood by users and "
    "perhaps by peripheral systems, and a set of secrets.",
    "Binding": "Binding ties one object to another; for example, a pod is bound to a node "
    "by a scheduler.",
    "PodTemplate": "PodTemplate describes a template for creating copies of a predefined pod.",
    "PodTemplateSpec": "PodTemplateSpec describes the data a pod should have when created "
    "from a template.",
    "PodSpec": "PodSpec is a description of a pod.",
    "PodStatus": "PodStatus represents information about the status of a pod. Status may "
    "trail the actual state of a system.",
    "Container": "A single application container that you want to run within a pod.",
    "EphemeralContainer": "An EphemeralContainer is a temporary container added to an "
    "existing pod for user-initiated activities such as debugging.",
    "ContainerPort": "ContainerPort represents a network port in a single container.",
    "EnvVar": "EnvVar represents an environment variable present in a Container.",
    "VolumeMount": "VolumeMount describes a mounting of a Volume within a container.",
    "Volume": "Volume represents a named volume in a pod that may be accessed by any "
    "container in the pod.",
    "ResourceRequirements": "ResourceRequirements describes the compute resource requirements.",
    "Probe": "Probe describes a health check to be performed against a container to "
    "determine whether it is alive or ready to receive traffic.",
    "Toleration": "The pod this Toleration is attached to tolerates any taint that matches "
    "the triple <key,value,effect> using the matching operator <operator>.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "DeploymentSpec": "DeploymentSpec is the specification of the desired behavior of the "
    "Deployment.",
    "DeploymentStatus": "DeploymentStatus is the most recently observed status of the Deployment.",
    "DeploymentStrategy": "DeploymentStrategy describes how to replace existing pods with "
    "new ones.",
    "RollingUpdateDeployment": "Spec to control the desired behavior of rolling update.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running "
    "at any given time.",
    "DaemonSet": "DaemonSet represents the configuration of a daemon set.",
    "Job": "Job represents the configuration of a single job.",
    "CronJob": "CronJob represents the configuration of a single cron job.",
    "Lease": "Lease defines a lease concept.",
    "PriorityClass": "PriorityClass defines mapping from a priority class name to the priority "
    "integer value. The value can be any valid integer.",
    "EndpointSlice": "EndpointSlice represents a subset of the endpoints that implement a service.",
    "NetworkPolicy": "NetworkPolicy describes what network traffic is allowed for a set of Pods.",
    "NetworkPolicySpec": "NetworkPolicySpec provides the specification of a NetworkPolicy.",
    "NetworkPolicyIngressRule": "NetworkPolicyIngressRule describes a particular set of traffic that is "
    "allowed to the pods matched by a NetworkPolicySpec's podSelector. The traffic must match both ports "
    "and from.",
    "NetworkPolicyEgressRule": "NetworkPolicyEgressRule describes a particular set of traffic that is "
    "allowed out of pods matched by a NetworkPolicySpec's podSelector. The traffic must match both ports "
    "and to.",
    "NetworkPolicyPeer": "NetworkPolicyPeer describes a peer to allow traffic to/from. Only certain "
    "combinations of fields are allowed.",
    "NetworkPolicyPort": "NetworkPolicyPort describes a port to allow traffic on.",
    "IPBlock": 'IPBlock describes a particular CIDR (Ex. "192.168.1.0/24","2001:db8::/64") that is allowed '
    "to the pods matched by a NetworkPolicySpec's podSelector. The except entry describes CIDRs that "
    "should not be included within this rule.",
    "Scale": "Scale represents a scaling request for a resource.",
    "ScaleSpec": "ScaleSpec describes the attributes of a scale subresource.",
    "ScaleStatus": "ScaleStatus represents the current status of a scale subresource.",
    "ObjectMeta": "ObjectMeta is metadata that all persisted resources must have, which "
    "includes all objects users must create.",
    "ListMeta": "ListMeta describes metadata that synthetic resources must have, including "
    "lists and various status objects.",
    "LabelSelector": "A label selector is a label query over a set of resources. The result "
    "of matchLabels and matchExpressions are ANDed. An empty label selector matches all "
    "objects. A null label selector matches no objects.",
    "OwnerReference": "OwnerReference contains enough information to let you identify an "
    "owning object.",
    "Status": "Status is a return value for calls that don't return other objects.",
    "StatusDetails": "StatusDetails is a set of additional properties that MAY be set by "
    "the server to provide additional information about a response.",
    "StatusCause": "StatusCause provides more information about an api.Status failure, "
    "including cases when multiple errors are encountered.",
    "Condition": "Condition contains details for one aspect of the current state of this "
    "API Resource.",
    "DeleteOptions": "DeleteOptions may be provided when deleting an API object.",
    "Preconditions": "Preconditions must be fulfilled before an operation (update, delete, "
    "etc.) is carried out.",
    "WatchEvent": "Event represents a single event to a watched resource.",
    "Patch": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
    "request body.",
    "IntOrString": "IntOrString is a type that can hold an int32 or a string.",
    "Quantity": "Quantity is a fixed-point representation of a number, such as 100m, 1.5, "
    "2Gi or 1e3: a decimal number with an optional SI, binary SI or exponent suffix.",
}

FIELDS: dict[str, dict[str, str]] = {
    "ObjectMeta": {
        "name": "Name must be unique within a namespace. Required when creating resources, "
        "although some resources may allow a client to request the generation of an "
        "appropriate name automatically. Cannot be updated.",
        "generateName": "An optional prefix, used by the server to generate a unique name "
        "only if the Name field has not been provided.",
        "namespace": "Namespace defines the space within which each name must be unique. "
        'An empty namespace is equivalent to the "default" namespace.',
        "uid": "UID is the unique in time and space value for this object. Populated by "
        "the system. Read-only.",
        "resourceVersion": "An opaque value that represents the internal version of this "
        "object, used for optimistic concurrency, change detection and watches. Read-only.",
        "generation": "A sequence number representing a specific generation of the "
        "desired state. Populated by the system. Read-only.",
        "creationTimestamp": "A timestamp representing the server time when this object "
        "was created, in RFC 3339 form. Populated by the system. Read-only.",
        "deletionTimestamp": "RFC 3339 date and time at which this resource will be "
        "deleted. Set by the server when a graceful deletion is requested. Read-only.",
        "deletionGracePeriodSeconds": "Number of seconds allowed for this object to "
        "gracefully terminate before it will be removed from the system.",
        "labels": "Map of string keys and values that can be used to organize and "
        "categorize (scope and select) objects.",
        "annotations": "An unstructured key value map stored with a resource that may be "
        "set by external tools to store and retrieve arbitrary metadata.",
        "ownerReferences": "List of objects depended by this object. If ALL objects in the "
        "list have been deleted, this object will be garbage collected.",
        "finalizers": "Must be empty before the object is deleted from the registry. Each "
        "entry is an identifier for the responsible component that will remove the entry.",
        "managedFields": "Maps workflow-id and version to the set of fields that are "
        "managed by that workflow.",
        "selfLink": "Deprecated: selfLink is a legacy read-only field that is no longer "
        "populated by the system.",
    },
    "PodSpec": {
        "containers": "List of containers belonging to the pod. Containers cannot currently "
        "be added or removed. There must be at least one container in a Pod. Cannot be "
        "updated.",
        "initContainers": "List of initialization containers belonging to the pod. Init "
        "containers are executed in order prior to containers being started.",
        "ephemeralContainers": "List of ephemeral containers run in this pod, for "
        "user-initiated activities such as debugging.",
        "volumes": "List of volumes that can be mounted by containers belonging to the pod.",
        "restartPolicy": "Restart policy for all containers within the pod. One of Always, "
        "OnFailure, Never. Default to Always.",
        "terminationGracePeriodSeconds": "Optional duration in seconds the pod needs to "
        "terminate gracefully. Defaults to 30 seconds.",
        "activeDeadlineSeconds": "Optional duration in seconds the pod may be active on the "
        "node relative to StartTime before the system will actively try to mark it failed.",
        "dnsPolicy": 'Set DNS policy for the pod. Defaults to "ClusterFirst".',
        "nodeSelector": "A selector which must be true for the pod to fit on a node: the "
        "node's labels must match every key and value given here.",
        "serviceAccountName": "The name of the ServiceAccount to use to run this pod.",
        "nodeName": "A request to schedule this pod onto a specific node. If it is "
        "non-empty, the scheduler simply schedules this pod onto that node.",
        "hostNetwork": "Host networking requested for this pod: use the host's network "
        "namespace. Default to false.",
        "securityContext": "Pod-level security attributes and common container settings.",
        "imagePullSecrets": "References to secrets in the same namespace to use for pulling "
        "any of the images used by this PodSpec.",
        "hostname": "Specifies the hostname of the Pod. If not specified, the pod's "
        "hostname will be set to a system-defined value.",
        "affinity": "If specified, the pod's scheduling constraints.",
        "schedulerName": "If specified, the pod will be dispatched by the specified scheduler.",
        "tolerations": "If specified, the pod's tolerations.",
        "priorityClassName": "If specified, indicates the pod's priority.",
        "topologySpreadConstraints": "Describes how a group of pods ought to spread across "
        "topology domains.",
    },
    "Container": {
        "name": "Name of the container specified as a DNS_LABEL. Each container in a pod "
        "must have a unique name. Cannot be updated.",
        "image": "Container image name.",
        "command": "Entrypoint array. Not executed within a shell. The container image's "
        "ENTRYPOINT is used if this is not provided.",
        "args": "Arguments to the entrypoint. The container image's CMD is used if this is "
        "not provided.",
        "workingDir": "Container's working directory. If not specified, the container "
        "runtime's default will be used.",
        "ports": "List of ports to expose from the container.",
        "env": "List of environment variables to set in the container. Cannot be updated.",
        "envFrom": "List of sources to populate environment variables in the container.",
        "resources": "Compute Resources required by this container.",
        "volumeMounts": "Pod volumes to mount into the container's filesystem. Cannot be updated.",
        "livenessProbe": "Periodic probe of container liveness. Container will be restarted "
        "if the probe fails.",
        "readinessProbe": "Periodic probe of container service readiness. Container will be "
        "removed from service endpoints if the probe fails.",
        "startupProbe": "StartupProbe indicates that the Pod has successfully initialized.",
        "lifecycle": "Actions that the management system should take in response to "
        "container lifecycle events.",
        "imagePullPolicy": "Image pull policy. One of Always, Never, IfNotPresent.",
        "securityContext": "SecurityContext defines the security options the container "
        "should be run with.",
        "restartPolicy": "RestartPolicy defines the restart behavior of individual "
        "containers in a pod.",
        "stdin": "Whether this container should allocate a buffer for stdin in the "
        "container runtime.",
        "tty": "Whether this container should allocate a TTY for itself.",
        "stdinOnce": "Whether the container runtime should close the stdin channel after it "
        "has been opened by a single attach.",
        "terminationMessagePath": "Path at which the file to which the container's "
        "termination message will be written is mounted. Defaults to /dev/termination-log.",
        "terminationMessagePolicy": "How the termination message should be populated: File "
        "or FallbackToLogsOnError. Defaults to File.",
        "volumeDevices": "The list of block devices to be used by the container.",
        "resizePolicy": "Resources resize policy for the container.",
    },
    "ContainerPort": {
        "containerPort": "Number of port to expose on the pod's IP address.",
        "name": "If specified, this must be an IANA_SVC_NAME and unique within the pod.",
        "protocol": 'Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "TCP".',
        "hostPort": "Number of port to expose on the host.",
    },
    "EnvVar": {
        "name": "Name of the environment variable.",
        "value": "Variable references $(VAR_NAME) are expanded using the previously defined "
        "environment variables in the container and any service environment variables.",
        "valueFrom": "Source for the environment variable's value. Cannot be used if value "
        "is not empty.",
    },
    "ResourceRequirements": {
        "limits": "Limits describes the maximum amount of compute resources allowed.",
        "requests": "Requests describes the minimum amount of compute resources required.",
    },
    "PodStatus": {
        "phase": "The phase of a Pod is a simple, high-level summary of where the Pod is in "
        "its lifecycle: Pending, Running, Succeeded, Failed or Unknown.",
        "podIP": "IP address allocated to the pod. Routable at least within the cluster.",
        "hostIP": "IP address of the host to which the pod is assigned.",
        "startTime": "RFC 3339 date and time at which the object was acknowledged by the Kubelet.",
        "containerStatuses": "The status of each container in the pod.",
        "qosClass": "The Quality of Service (QOS) classification assigned to the pod based "
        "on resource requirements.",
    },
    "DeploymentSpec": {
        "replicas": "Number of desired pods. Defaults to 1.",
        "selector": "Label selector for pods. Existing ReplicaSets whose pods are selected "
        "by this will be the ones affected by this deployment. It must match the pod "
        "template's labels.",
        "template": "Template describes the pods that will be created. The only allowed "
        'template.spec.restartPolicy value is "Always".',
        "strategy": "The deployment strategy to use to replace existing pods with new ones.",
        "minReadySeconds": "Minimum number of seconds for which a newly created pod should "
        "be ready without any of its container crashing, for it to be considered available.",
        "revisionHistoryLimit": "The number of old ReplicaSets to retain to allow rollback. "
        "Defaults to 10.",
        "paused": "Indicates that the deployment is paused.",
        "progressDeadlineSeconds": "The maximum time in seconds for a deployment to make "
        "progress before it is considered to be failed. Defaults to 600s.",
    },
    "DeploymentStrategy": {
        "type": 'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is '
        "RollingUpdate.",
        "rollingUpdate": "Rolling update config params. Present only if "
        "DeploymentStrategyType = RollingUpdate.",
    },
    "RollingUpdateDeployment": {
        "maxUnavailable": "The maximum number of pods that can be unavailable during the "
        "update. Value can be an absolute number (ex: 5) or a percentage of desired pods "
        "(ex: 10%). Defaults to 25%.",
        "maxSurge": "The maximum number of pods that can be scheduled above the desired "
        "number of pods. Value can be an absolute number (ex: 5) or a percentage of desired "
        "pods (ex: 10%). Defaults to 25%.",
    },
    "DeploymentStatus": {
        "replicas": "Total number of non-terminating pods targeted by this deployment "
        "(their labels match the selector).",
        "updatedReplicas": "Total number of non-terminating pods targeted by this "
        "deployment that have the desired template spec.",
        "readyReplicas": "Total number of non-terminating pods targeted by this Deployment "
        "with a Ready Condition.",
        "availableReplicas": "Total number of available non-terminating pods (ready for at "
        "least minReadySeconds) targeted by this deployment.",
        "unavailableReplicas": "Total number of unavailable pods targeted by this deployment.",
    },
    "ReplicaSetSpec": {
        "replicas": "Replicas is the number of desired pods. Defaults to 1.",
    },
    "ServiceSpec": {
        "ports": "The list of ports that are exposed by this service.",
        "selector": "Route service traffic to pods with label keys and values matching this "
        "selector.",
        "type": "Type determines how the Service is exposed: ClusterIP, NodePort, "
        "LoadBalancer or ExternalName. Defaults to ClusterIP.",
        "clusterIP": "The IP address of the service, usually assigned randomly.",
    },
    "ServicePort": {
        "port": "The port that will be exposed by this service.",
        "targetPort": "Number or name of the port to access on the pods targeted by the service.",
        "protocol": 'The IP protocol for this port. Supports "TCP", "UDP", and '
        '"SCTP". Default is TCP.',
        "name": "The name of this port within the service.",
        "nodePort": "The port on each node on which this service is exposed when type is "
        "NodePort or LoadBalancer.",
    },
    "ConfigMap": {
        "data": "Data contains the configuration data, as UTF-8 strings.",
        "binaryData": "BinaryData contains the binary data, as base64 text.",
        "immutable": "If set to true, ensures that data stored in the ConfigMap cannot be updated.",
    },
    "Secret": {
        "data": "Data contains the secret data, each value base64 encoded.",
        "stringData": "Allows specifying non-binary secret data in string form. It is "
        "provided as a write-only input field for convenience.",
        "type": "Used to facilitate programmatic handling of secret data.",
        "immutable": "If set to true, ensures that data stored in the Secret cannot be updated.",
    },
    "JobSpec": {
        "parallelism": "The maximum desired number of pods the job should run at any given time.",
        "completions": "The desired number of successfully finished pods the job should be "
        "run with.",
        "backoffLimit": "The number of retries before marking this job failed. Defaults to 6.",
        "template": "Describes the pod that will be created when executing a job.",
    },
    "CronJobSpec": {
        "schedule": "The schedule in Cron format.",
        "jobTemplate": "The job that will be created when executing a CronJob.",
        "suspend": "This flag tells the controller to suspend subsequent executions.",
        "concurrencyPolicy": "How to treat concurrent executions of a Job: Allow, Forbid or "
        "Replace.",
    },
    "ScaleSpec": {"replicas": "The desired number of instances for the scaled object."},
    "ScaleStatus": {
        "replicas": "The actual number of observed instances of the scaled object.",
        "selector": "The label query over pods that should match the replicas count, in "
        "its string form.",
    },
    "Status": {
        "status": 'Status of the operation. One of: "Success" or "Failure".',
        "message": "A human-readable description of the status of this operation.",
        "reason": "A machine-readable description of why this operation is in the "
        '"Failure" status.',
        "details": "Extended data associated with the reason.",
        "code": "Suggested HTTP return code for this status, 0 if not set.",
    },
    "PriorityClass": {
        "value": "The integer value of this priority class: the priority that pods naming this "
        "class in spec.priorityClassName receive. At most 1000000000 for classes users define.",
        "globalDefault": "Whether pods that name no priority class get this one. Only one class "
        "may be the global default.",
        "description": "An arbitrary string, usually guidance on when the class should be used.",
        "preemptionPolicy": "Whether pods of this class may preempt lower-priority pods: "
        "PreemptLowerPriority (the default) or Never.",
    },
    "NetworkPolicySpec": {
        "podSelector": "podSelector selects the pods to which this NetworkPolicy object applies. Multiple "
        "network policies can select the same pods; their rules are combined additively. An empty "
        "podSelector matches all pods in this namespace.",
        "ingress": "ingress is a list of ingress rules to be applied to the selected pods. Traffic is "
        "allowed to a pod if no NetworkPolicy selects it for ingress, OR if the traffic source is the "
        "pod's local node, OR if the traffic matches at least one ingress rule across all of the "
        "NetworkPolicy objects whose podSelector matches the pod. If this field is empty then this "
        "NetworkPolicy does not allow any traffic (and serves solely to ensure that the pods it selects "
        "are isolated by default).",
        "egress": "egress is a list of egress rules to be applied to the selected pods. Outgoing traffic "
        "is allowed if no NetworkPolicy selects the pod for egress, OR if the traffic matches at least one "
        "egress rule across all of the NetworkPolicy objects whose podSelector matches the pod. If this "
        "field is empty then this NetworkPolicy limits all outgoing traffic (and serves solely to ensure "
        "that the pods it selects are isolated by default).",
        "policyTypes": 'policyTypes is a list of rule types that the NetworkPolicy relates to. Valid '
        'options are ["Ingress"], ["Egress"], or ["Ingress", "Egress"]. If this field is not specified, '
        "it will default based on the existence of ingress or egress rules; policies that contain an "
        "egress section are assumed to affect egress, and all policies (whether or not they contain an "
        "ingress section) are assumed to affect ingress.",
    },
    "NetworkPolicyIngressRule": {
        "ports": "ports is a list of ports which should be made accessible on the pods selected for this "
        "rule. Each item in this list is combined using a logical OR. If this field is empty or missing, "
        "this rule matches all ports (traffic not restricted by port).",
        "from": "from is a list of sources which should be able to access the pods selected for this "
        "rule. Items in this list are combined using a logical OR operation. If this field is empty or "
        "missing, this rule matches all sources (traffic not restricted by source).",
    },
    "NetworkPolicyEgressRule": {
        "ports": "ports is a list of destination ports for outgoing traffic. Each item in this list is "
        "combined using a logical OR. If this field is empty or missing, this rule matches all ports "
        "(traffic not restricted by port).",
        "to": "to is a list of destinations for outgoing traffic of pods selected for this rule. Items "
        "in this list are combined using a logical OR operation. If this field is empty or missing, this "
        "rule matches all destinations (traffic not restricted by destination).",
    },
    "NetworkPolicyPeer": {
        "podSelector": "podSelector is a label selector which selects pods; if present but empty, it "
        "selects all pods. If namespaceSelector is also set, then the NetworkPolicyPeer as a whole "
        "selects the pods matching podSelector in the Namespaces selected by namespaceSelector. "
        "Otherwise it selects the pods matching podSelector in the policy's own namespace.",
        "namespaceSelector": "namespaceSelector selects namespaces using cluster-scoped labels; if "
        "present but empty, it selects all namespaces. If podSelector is also set, then the "
        "NetworkPolicyPeer as a whole selects the pods matching podSelector in the namespaces selected "
        "by namespaceSelector. Otherwise it selects all pods in the namespaces selected by "
        "namespaceSelector.",
        "ipBlock": "ipBlock defines policy on a particular IPBlock. If this field is set then neither "
        "of the other fields can be.",
    },
    "NetworkPolicyPort": {
        "protocol": "protocol represents the protocol (TCP, UDP, or SCTP) which traffic must match. If "
        "not specified, this field defaults to TCP.",
        "port": "port represents the port on the given protocol. This can either be a numerical or named "
        "port on a pod. If this field is not provided, this matches all port names and numbers. If "
        "present, only traffic on the specified protocol AND port will be matched.",
        "endPort": "endPort indicates that the range of ports from port to endPort if set, inclusive, "
        "should be allowed by the policy. This field cannot be defined if the port field is not defined "
        "or if the port field is defined as a named (string) port. The endPort must be equal or greater "
        "than port.",
    },
    "IPBlock": {
        "cidr": 'cidr is a string representing the IPBlock Valid examples are "192.168.1.0/24" or '
        '"2001:db8::/64"',
        "except": 'except is a slice of CIDRs that should not be included within an IPBlock Valid '
        'examples are "192.168.1.0/24" or "2001:db8::/64" Except values will be rejected if they are '
        "outside the cidr range",
    },
    "DeleteOptions": {
        "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
        "propagationPolicy": "Whether and how garbage collection will be performed: "
        "Orphan, Background or Foreground.",
        "preconditions": "Must be fulfilled before a deletion is carried out.",
        "dryRun": "When present, indicates that modifications should not be persisted.",
        "orphanDependents": "Deprecated: please use the PropagationPolicy.",
    },
}

KINDS.update(descriptions_storage.KINDS)
FIELDS.update(descriptions_storage.FIELDS)
KINDS.update(descriptions_statefulset.KINDS)
FIELDS.update(descriptions_statefulset.FIELDS)

_UPSTREAM = "io.k8s."


def _short(name: str) -> str | None:
    """The short name of an upstream schema; None for shoal's own types."""
    return name.rsplit(".", 1)[-1] if name.startswith(_UPSTREAM) else None


def kind_description(name: str) -> str | None:
    """The description of the schema with this full name, if one is written."""
    short = _short(name)
    return KINDS.get(short) if short else None


def field_description(name: str, field: str, *, top_level: bool = False) -> str | None:
    """The description of ``field`` on the schema with this full name, if one is written.

    The tables speak of Kubernetes types, so only ``io.k8s.`` schemas use them.
    ``top_level`` says the schema is a kind (it has apiVersion and kind), whose
    ``metadata``/``spec``/``status`` share one text.
    """
    short = _short(name)
    if short is None:
        return None
    own = FIELDS.get(short, {}).get(field)
    if own is not None:
        return own
    if top_level and field in OBJECT_FIELDS:
        return OBJECT_FIELDS[field]
    if short.endswith("Condition") and field in CONDITION_FIELDS:
        return CONDITION_FIELDS[field]
    return COMMON_FIELDS.get(field)

"""The protobuf tables shoal decoded with before they were generated, kept verbatim.

Until scripts/gen_proto_schema.py existed these were transcribed by hand from
upstream's generated.proto files (shoal/api/proto_schema_core.py,
proto_schema_groups.py and proto_schema_meta.py at commit e98245e).
test_proto_schema_gen.py checks that the generated tables still decode every
field these did, the same way, apart from the differences it lists (each one
a mistake of the hand tables, found by the comparison).
"""

from __future__ import annotations

# Which package each hand-written message belongs to (the hand tables were flat).
OTHERS_PACKAGES = {
    "Lease": "coordination.v1",
    "LeaseSpec": "coordination.v1",
    "PriorityClass": "scheduling.v1",
    "Eviction": "policy.v1",
    "PodDisruptionBudget": "policy.v1",
    "PodDisruptionBudgetSpec": "policy.v1",
    "PodDisruptionBudgetStatus": "policy.v1",
    "TokenRequest": "authentication.v1",
    "TokenRequestSpec": "authentication.v1",
    "BoundObjectReference": "authentication.v1",
    "TokenRequestStatus": "authentication.v1",
    "TokenReview": "authentication.v1",
    "TokenReviewSpec": "authentication.v1",
    "TokenReviewStatus": "authentication.v1",
    "UserInfo": "authentication.v1",
    "Scale": "autoscaling.v1",
    "ScaleSpec": "autoscaling.v1",
    "ScaleStatus": "autoscaling.v1",
}

META: dict[str, str] = {
    "ObjectMeta": (
        "name:1 generateName:2 namespace:3 selfLink:4 uid:5 resourceVersion:6 generation:7:i"
        " creationTimestamp:8:t deletionTimestamp:9:t deletionGracePeriodSeconds:10:i!"
        " labels:11:%s annotations:12:%s ownerReferences:13:*OwnerReference finalizers:14:*s"
        " managedFields:17:*ManagedFieldsEntry"
    ),
    "OwnerReference": "apiVersion:5 kind:1 name:3 uid:4 controller:6:b! blockOwnerDeletion:7:b!",
    "ManagedFieldsEntry": (
        "manager:1 operation:2 apiVersion:3 time:4:t fieldsType:6 fieldsV1:7:f subresource:8"
    ),
    "ListMeta": "selfLink:1 resourceVersion:2 continue:3 remainingItemCount:4:i!",
    "LabelSelector": "matchLabels:1:%s matchExpressions:2:*LabelSelectorRequirement",
    "LabelSelectorRequirement": "key:1 operator:2 values:3:*s",
    "Condition": (
        "type:1 status:2 observedGeneration:3:i lastTransitionTime:4:t reason:5 message:6"
    ),
    "DeleteOptions": (
        "gracePeriodSeconds:1:i! preconditions:2:Preconditions orphanDependents:3:b!"
        " propagationPolicy:4:s! dryRun:5:*s"
        " ignoreStoreReadErrorWithClusterBreakingPotential:6:b!"
    ),
    "Preconditions": "uid:1:s! resourceVersion:2:s!",
    "Status": "metadata:1:ListMeta status:2 message:3 reason:4 details:5:StatusDetails code:6:i",
    "StatusDetails": "name:1 group:2 kind:3 uid:6 causes:4:*StatusCause retryAfterSeconds:5:i",
    "StatusCause": "reason:1 message:2 field:3",
}

_CONTAINER = (
    "name:1 image:2 command:3:*s args:4:*s workingDir:5 ports:6:*ContainerPort"
    " envFrom:19:*EnvFromSource env:7:*EnvVar resources:8:ResourceRequirements"
    " resizePolicy:23:*ContainerResizePolicy restartPolicy:24:s!"
    " restartPolicyRules:25:*ContainerRestartRule volumeMounts:9:*VolumeMount"
    " volumeDevices:21:*VolumeDevice livenessProbe:10:Probe readinessProbe:11:Probe"
    " startupProbe:22:Probe lifecycle:12:Lifecycle terminationMessagePath:13"
    " terminationMessagePolicy:20 imagePullPolicy:14 securityContext:15:SecurityContext"
    " stdin:16:b stdinOnce:17:b tty:18:b"
)

CORE: dict[str, str] = {
    "AWSElasticBlockStoreVolumeSource": "volumeID:1 fsType:2 partition:3:i readOnly:4:b",
    "Affinity": "nodeAffinity:1:NodeAffinity podAffinity:2:PodAffinity podAntiAffinity:3:PodAntiAffinity",
    "AppArmorProfile": "type:1 localhostProfile:2:s!",
    "AttachedVolume": "name:1 devicePath:2",
    "AzureDiskVolumeSource": (
        "diskName:1 diskURI:2 cachingMode:3:s! fsType:4:s! readOnly:5:b! kind:6:s!"
    ),
    "AzureFileVolumeSource": "secretName:1 shareName:2 readOnly:3:b",
    "Binding": "metadata:1:ObjectMeta target:2:ObjectReference",
    "CSIVolumeSource": (
        "driver:1 readOnly:2:b! fsType:3:s! volumeAttributes:4:%s"
        " nodePublishSecretRef:5:LocalObjectReference"
    ),
    "Capabilities": "add:1:*s drop:2:*s",
    "CephFSVolumeSource": (
        "monitors:1:*s path:2 user:3 secretFile:4 secretRef:5:LocalObjectReference readOnly:6:b"
    ),
    "CinderVolumeSource": "volumeID:1 fsType:2 readOnly:3:b secretRef:4:LocalObjectReference",
    "ClientIPConfig": "timeoutSeconds:1:i!",
    "ClusterTrustBundleProjection": (
        "name:1:s! signerName:2:s! labelSelector:3:LabelSelector optional:5:b! path:4"
    ),
    "ConfigMap": "metadata:1:ObjectMeta immutable:4:b! data:2:%s binaryData:3:%y",
    "ConfigMapEnvSource": "localObjectReference:1:^LocalObjectReference optional:2:b!",
    "ConfigMapKeySelector": "localObjectReference:1:^LocalObjectReference key:2 optional:3:b!",
    "ConfigMapProjection": (
        "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath optional:4:b!"
    ),
    "ConfigMapVolumeSource": (
        "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath defaultMode:3:i!"
        " optional:4:b!"
    ),
    "Container": _CONTAINER,
    "ContainerImage": "names:1:*s sizeBytes:2:i",
    "ContainerPort": "name:1 hostPort:2:i containerPort:3:i! protocol:4 hostIP:5",
    "ContainerResizePolicy": "resourceName:1 restartPolicy:2",
    "ContainerRestartRule": "action:1 exitCodes:2:ContainerRestartRuleOnExitCodes",
    "ContainerRestartRuleOnExitCodes": "operator:1 values:2:*i",
    "ContainerState": (
        "waiting:1:ContainerStateWaiting running:2:ContainerStateRunning"
        " terminated:3:ContainerStateTerminated"
    ),
    "ContainerStateRunning": "startedAt:1:t",
    "ContainerStateTerminated": (
        "exitCode:1:i! signal:2:i reason:3 message:4 startedAt:5:t finishedAt:6:t containerID:7"
    ),
    "ContainerStateWaiting": "reason:1 message:2",
    "ContainerStatus": (
        "name:1 state:2:ContainerState lastState:3:ContainerState ready:4:b! restartCount:5:i!"
        " image:6:s! imageID:7:s! containerID:8 started:9:b! allocatedResources:10:%q"
        " resources:11:ResourceRequirements volumeMounts:12:*VolumeMountStatus"
        " user:13:ContainerUser allocatedResourcesStatus:14:*ResourceStatus stopSignal:15:s!"
    ),
    "ContainerUser": "linux:1:LinuxContainerUser",
    "DaemonEndpoint": "Port:1:i!",
    "DownwardAPIProjection": "items:1:*DownwardAPIVolumeFile",
    "DownwardAPIVolumeFile": (
        "path:1 fieldRef:2:ObjectFieldSelector resourceFieldRef:3:ResourceFieldSelector mode:4:i!"
    ),
    "DownwardAPIVolumeSource": "items:1:*DownwardAPIVolumeFile defaultMode:2:i!",
    "EmptyDirVolumeSource": "medium:1 sizeLimit:2:q",
    "EndpointAddress": "ip:1 hostname:3 nodeName:4:s! targetRef:2:ObjectReference",
    "EndpointPort": "name:1 port:2:i! protocol:3 appProtocol:4:s!",
    "EndpointSubset": (
        "addresses:1:*EndpointAddress notReadyAddresses:2:*EndpointAddress ports:3:*EndpointPort"
    ),
    "Endpoints": "metadata:1:ObjectMeta subsets:2:*EndpointSubset",
    "EnvFromSource": "prefix:1 configMapRef:2:ConfigMapEnvSource secretRef:3:SecretEnvSource",
    "EnvVar": "name:1 value:2 valueFrom:3:EnvVarSource",
    "EnvVarSource": (
        "fieldRef:1:ObjectFieldSelector resourceFieldRef:2:ResourceFieldSelector"
        " configMapKeyRef:3:ConfigMapKeySelector secretKeyRef:4:SecretKeySelector"
        " fileKeyRef:5:FileKeySelector"
    ),
    "EphemeralContainer": (
        "ephemeralContainerCommon:1:^EphemeralContainerCommon targetContainerName:2"
    ),
    "EphemeralContainerCommon": _CONTAINER,
    "EphemeralVolumeSource": "volumeClaimTemplate:1:PersistentVolumeClaimTemplate",
    "Event": (
        "metadata:1:ObjectMeta involvedObject:2:ObjectReference reason:3 message:4"
        " source:5:EventSource firstTimestamp:6:t lastTimestamp:7:t count:8:i type:9"
        " eventTime:10:mt series:11:EventSeries action:12 related:13:ObjectReference"
        " reportingComponent:14:s! reportingInstance:15:s!"
    ),
    "EventSeries": "count:1:i lastObservedTime:2:mt",
    "EventSource": "component:1 host:2",
    "ExecAction": "command:1:*s",
    "FCVolumeSource": "targetWWNs:1:*s lun:2:i! fsType:3 readOnly:4:b wwids:5:*s",
    "FileKeySelector": "volumeName:1 path:2 key:3 optional:4:b!",
    "FlexVolumeSource": (
        "driver:1 fsType:2 secretRef:3:LocalObjectReference readOnly:4:b options:5:%s"
    ),
    "FlockerVolumeSource": "datasetName:1 datasetUUID:2",
    "GCEPersistentDiskVolumeSource": "pdName:1 fsType:2 partition:3:i readOnly:4:b",
    "GRPCAction": "port:1:i! service:2:s!",
    "GitRepoVolumeSource": "repository:1 revision:2 directory:3",
    "GlusterfsVolumeSource": "endpoints:1 path:2 readOnly:3:b",
    "HTTPGetAction": "path:1 port:2:ios host:3 scheme:4 httpHeaders:5:*HTTPHeader",
    "HTTPHeader": "name:1 value:2:s!",
    "HostAlias": "ip:1 hostnames:2:*s",
    "HostIP": "ip:1",
    "HostPathVolumeSource": "path:1 type:2:s!",
    "ISCSIVolumeSource": (
        "targetPortal:1 iqn:2 lun:3:i! iscsiInterface:4 fsType:5 readOnly:6:b portals:7:*s"
        " chapAuthDiscovery:8:b chapAuthSession:11:b secretRef:10:LocalObjectReference"
        " initiatorName:12:s!"
    ),
    "ImageVolumeSource": "reference:1 pullPolicy:2",
    "KeyToPath": "key:1 path:2 mode:3:i!",
    "Lifecycle": "postStart:1:LifecycleHandler preStop:2:LifecycleHandler stopSignal:3:s!",
    "LifecycleHandler": (
        "exec:1:ExecAction httpGet:2:HTTPGetAction tcpSocket:3:TCPSocketAction sleep:4:SleepAction"
    ),
    "LimitRange": "metadata:1:ObjectMeta spec:2:LimitRangeSpec",
    "LimitRangeItem": (
        "type:1 max:2:%q min:3:%q default:4:%q defaultRequest:5:%q maxLimitRequestRatio:6:%q"
    ),
    "LimitRangeSpec": "limits:1:*LimitRangeItem",
    "LinuxContainerUser": "uid:1:i! gid:2:i! supplementalGroups:3:*i",
    "LoadBalancerIngress": "ip:1 hostname:2 ipMode:3:s! ports:4:*PortStatus",
    "LoadBalancerStatus": "ingress:1:*LoadBalancerIngress",
    "LocalObjectReference": "name:1",
    "NFSVolumeSource": "server:1 path:2 readOnly:3:b",
    "Namespace": "metadata:1:ObjectMeta spec:2:NamespaceSpec status:3:NamespaceStatus",
    "NamespaceCondition": "type:1 status:2 lastTransitionTime:4:t reason:5 message:6",
    "NamespaceSpec": "finalizers:1:*s",
    "NamespaceStatus": "phase:1 conditions:2:*NamespaceCondition",
    "Node": "metadata:1:ObjectMeta spec:2:NodeSpec status:3:NodeStatus",
    "NodeAddress": "type:1 address:2",
    "NodeAffinity": (
        "requiredDuringSchedulingIgnoredDuringExecution:1:NodeSelector"
        " preferredDuringSchedulingIgnoredDuringExecution:2:*PreferredSchedulingTerm"
    ),
    "NodeCondition": (
        "type:1 status:2 lastHeartbeatTime:3:t lastTransitionTime:4:t reason:5 message:6"
    ),
    "NodeConfigSource": "configMap:2:ConfigMapNodeConfigSource",
    "ConfigMapNodeConfigSource": "namespace:1 name:2 uid:3 resourceVersion:4 kubeletConfigKey:5",
    "NodeConfigStatus": (
        "assigned:1:NodeConfigSource active:2:NodeConfigSource lastKnownGood:3:NodeConfigSource"
        " error:4"
    ),
    "NodeDaemonEndpoints": "kubeletEndpoint:1:DaemonEndpoint",
    "NodeFeatures": "supplementalGroupsPolicy:1:b! containerUlimits:2:b!",
    "NodeRuntimeHandler": "name:1 features:2:NodeRuntimeHandlerFeatures",
    "NodeRuntimeHandlerFeatures": "recursiveReadOnlyMounts:1:b! userNamespaces:2:b!",
    "NodeSelector": "nodeSelectorTerms:1:*NodeSelectorTerm",
    "NodeSelectorRequirement": "key:1 operator:2 values:3:*s",
    "NodeSelectorTerm": (
        "matchExpressions:1:*NodeSelectorRequirement matchFields:2:*NodeSelectorRequirement"
    ),
    "NodeSpec": (
        "podCIDR:1 podCIDRs:7:*s providerID:3 unschedulable:4:b taints:5:*Taint"
        " configSource:6:NodeConfigSource externalID:2"
    ),
    "NodeStatus": (
        "capacity:1:%q allocatable:2:%q phase:3 conditions:4:*NodeCondition"
        " addresses:5:*NodeAddress daemonEndpoints:6:NodeDaemonEndpoints"
        " nodeInfo:7:NodeSystemInfo images:8:*ContainerImage volumesInUse:9:*s"
        " volumesAttached:10:*AttachedVolume config:11:NodeConfigStatus"
        " runtimeHandlers:12:*NodeRuntimeHandler features:13:NodeFeatures declaredFeatures:14:*s"
    ),
    "NodeSwapStatus": "capacity:1:i!",
    "NodeSystemInfo": (
        "machineID:1:s! systemUUID:2:s! bootID:3:s! kernelVersion:4:s! osImage:5:s!"
        " containerRuntimeVersion:6:s! kubeletVersion:7:s! kubeProxyVersion:8:s!"
        " operatingSystem:9:s! architecture:10:s! swap:11:NodeSwapStatus"
    ),
    "ObjectFieldSelector": "apiVersion:1 fieldPath:2",
    "ObjectReference": (
        "kind:1 namespace:2 name:3 uid:4 apiVersion:5 resourceVersion:6 fieldPath:7"
    ),
    "PersistentVolumeClaimSpec": (
        "accessModes:1:*s selector:4:LabelSelector resources:2:VolumeResourceRequirements"
        " volumeName:3 storageClassName:5:s! volumeMode:6:s! dataSource:7:TypedLocalObjectReference"
        " dataSourceRef:8:TypedObjectReference volumeAttributesClassName:9:s!"
    ),
    "PersistentVolumeClaimTemplate": "metadata:1:ObjectMeta spec:2:PersistentVolumeClaimSpec",
    "PersistentVolumeClaimVolumeSource": "claimName:1 readOnly:2:b",
    "PhotonPersistentDiskVolumeSource": "pdID:1 fsType:2",
    "Pod": "metadata:1:ObjectMeta spec:2:PodSpec status:3:PodStatus",
    "PodAffinity": (
        "requiredDuringSchedulingIgnoredDuringExecution:1:*PodAffinityTerm"
        " preferredDuringSchedulingIgnoredDuringExecution:2:*WeightedPodAffinityTerm"
    ),
    "PodAffinityTerm": (
        "labelSelector:1:LabelSelector namespaces:2:*s topologyKey:3"
        " namespaceSelector:4:LabelSelector matchLabelKeys:5:*s mismatchLabelKeys:6:*s"
    ),
    "PodAntiAffinity": (
        "requiredDuringSchedulingIgnoredDuringExecution:1:*PodAffinityTerm"
        " preferredDuringSchedulingIgnoredDuringExecution:2:*WeightedPodAffinityTerm"
    ),
    "PodCertificateProjection": (
        "signerName:1 keyType:2 maxExpirationSeconds:3:i! credentialBundlePath:4 keyPath:5"
        " certificateChainPath:6 userAnnotations:7:%s"
    ),
    "PodCondition": (
        "type:1 observedGeneration:7:i status:2 lastProbeTime:3:t lastTransitionTime:4:t"
        " reason:5 message:6"
    ),
    "PodDNSConfig": "nameservers:1:*s searches:2:*s options:3:*PodDNSConfigOption",
    "PodDNSConfigOption": "name:1 value:2:s!",
    "PodExtendedResourceClaimStatus": (
        "requestMappings:1:*ContainerExtendedResourceRequest resourceClaimName:2"
    ),
    "ContainerExtendedResourceRequest": "containerName:1 resourceName:2 requestName:3",
    "PodIP": "ip:1",
    "PodOS": "name:1",
    "PodReadinessGate": "conditionType:1",
    "PodResourceClaim": "name:1 resourceClaimName:3:s! resourceClaimTemplateName:4:s!",
    "PodResourceClaimStatus": "name:1 resourceClaimName:2:s!",
    "PodSchedulingGate": "name:1",
    "PodSecurityContext": (
        "seLinuxOptions:1:SELinuxOptions windowsOptions:8:WindowsSecurityContextOptions"
        " runAsUser:2:i! runAsGroup:6:i! runAsNonRoot:3:b! supplementalGroups:4:*i"
        " supplementalGroupsPolicy:12:s! fsGroup:5:i! sysctls:7:*Sysctl"
        " fsGroupChangePolicy:9:s! seccompProfile:10:SeccompProfile"
        " appArmorProfile:11:AppArmorProfile seLinuxChangePolicy:13:s!"
    ),
    "PersistentVolumeClaim": (
        "metadata:1:ObjectMeta spec:2:PersistentVolumeClaimSpec"
        " status:3:PersistentVolumeClaimStatus"
    ),
    "PersistentVolumeClaimCondition": (
        "type:1 status:2 lastProbeTime:3:t lastTransitionTime:4:t reason:5 message:6"
    ),
    "PersistentVolumeClaimStatus": (
        "phase:1 accessModes:2:*s capacity:3:%q conditions:4:*PersistentVolumeClaimCondition"
        " allocatedResources:5:%q allocatedResourceStatuses:7:%s"
        " currentVolumeAttributesClassName:8:s! modifyVolumeStatus:9:ModifyVolumeStatus"
    ),
    "ModifyVolumeStatus": "targetVolumeAttributesClassName:1 status:2",
    "PodSpec": (
        "volumes:1:*Volume initContainers:20:*Container containers:2:*Container"
        " ephemeralContainers:34:*EphemeralContainer restartPolicy:3"
        " terminationGracePeriodSeconds:4:i! activeDeadlineSeconds:5:i! dnsPolicy:6"
        " nodeSelector:7:%s serviceAccountName:8 serviceAccount:9"
        " automountServiceAccountToken:21:b! nodeName:10 hostNetwork:11:b hostPID:12:b"
        " hostIPC:13:b shareProcessNamespace:27:b! securityContext:14:PodSecurityContext"
        " imagePullSecrets:15:*LocalObjectReference hostname:16 subdomain:17"
        " affinity:18:Affinity schedulerName:19 tolerations:22:*Toleration"
        " hostAliases:23:*HostAlias priorityClassName:24 priority:25:i! dnsConfig:26:PodDNSConfig"
        " readinessGates:28:*PodReadinessGate runtimeClassName:29:s! enableServiceLinks:30:b!"
        " preemptionPolicy:31:s! overhead:32:%q"
        " topologySpreadConstraints:33:*TopologySpreadConstraint setHostnameAsFQDN:35:b!"
        " os:36:PodOS hostUsers:37:b! schedulingGates:38:*PodSchedulingGate"
        " resourceClaims:39:*PodResourceClaim resources:40:ResourceRequirements"
        " hostnameOverride:41:s! workloadRef:42:WorkloadReference"
    ),
    "PodStatus": (
        "observedGeneration:17:i phase:1 conditions:2:*PodCondition message:3 reason:4"
        " nominatedNodeName:11 hostIP:5 hostIPs:16:*HostIP podIP:6 podIPs:12:*PodIP"
        " startTime:7:t initContainerStatuses:10:*ContainerStatus"
        " containerStatuses:8:*ContainerStatus qosClass:9"
        " ephemeralContainerStatuses:13:*ContainerStatus resize:14"
        " resourceClaimStatuses:15:*PodResourceClaimStatus"
        " extendedResourceClaimStatus:18:PodExtendedResourceClaimStatus"
        " allocatedResources:19:%q resources:20:ResourceRequirements"
    ),
    "PodTemplate": "metadata:1:ObjectMeta template:2:PodTemplateSpec",
    "PodTemplateSpec": "metadata:1:ObjectMeta spec:2:PodSpec",
    "PortStatus": "port:1:i! protocol:2 error:3:s!",
    "PortworxVolumeSource": "volumeID:1 fsType:2 readOnly:3:b",
    "PreferredSchedulingTerm": "weight:1:i! preference:2:NodeSelectorTerm",
    "Probe": (
        "handler:1:^ProbeHandler initialDelaySeconds:2:i timeoutSeconds:3:i periodSeconds:4:i"
        " successThreshold:5:i failureThreshold:6:i terminationGracePeriodSeconds:7:i!"
    ),
    "ProbeHandler": (
        "exec:1:ExecAction httpGet:2:HTTPGetAction tcpSocket:3:TCPSocketAction grpc:4:GRPCAction"
    ),
    "ProjectedVolumeSource": "sources:1:*VolumeProjection defaultMode:2:i!",
    "QuobyteVolumeSource": "registry:1 volume:2 readOnly:3:b user:4 group:5 tenant:6",
    "RBDVolumeSource": (
        "monitors:1:*s image:2 fsType:3 pool:4 user:5 keyring:6"
        " secretRef:7:LocalObjectReference readOnly:8:b"
    ),
    "ReplicationController": (
        "metadata:1:ObjectMeta spec:2:ReplicationControllerSpec"
        " status:3:ReplicationControllerStatus"
    ),
    "ReplicationControllerCondition": "type:1 status:2 lastTransitionTime:3:t reason:4 message:5",
    "ReplicationControllerSpec": (
        "replicas:1:i! minReadySeconds:4:i selector:2:%s template:3:PodTemplateSpec"
    ),
    "ReplicationControllerStatus": (
        "replicas:1:i! fullyLabeledReplicas:2:i readyReplicas:4:i availableReplicas:5:i"
        " observedGeneration:3:i conditions:6:*ReplicationControllerCondition"
    ),
    "ResourceClaim": "name:1 request:2",
    "ResourceFieldSelector": "containerName:1 resource:2 divisor:3:q",
    "ResourceHealth": "resourceID:1 health:2 message:6:s!",
    "ResourceQuota": (
        "metadata:1:ObjectMeta spec:2:ResourceQuotaSpec status:3:ResourceQuotaStatus"
    ),
    "ResourceQuotaSpec": "hard:1:%q scopes:2:*s scopeSelector:3:ScopeSelector",
    "ResourceQuotaStatus": "hard:1:%q used:2:%q",
    "ResourceRequirements": "limits:1:%q requests:2:%q claims:3:*ResourceClaim",
    "ResourceStatus": "name:1 resources:2:*ResourceHealth",
    "SELinuxOptions": "user:1 role:2 type:3 level:4",
    "ScaleIOVolumeSource": (
        "gateway:1 system:2 secretRef:3:LocalObjectReference sslEnabled:4:b"
        " protectionDomain:5 storagePool:6 storageMode:7 volumeName:8 fsType:9 readOnly:10:b"
    ),
    "ScopeSelector": "matchExpressions:1:*ScopedResourceSelectorRequirement",
    "ScopedResourceSelectorRequirement": "scopeName:1 operator:2 values:3:*s",
    "SeccompProfile": "type:1 localhostProfile:2:s!",
    "Secret": "metadata:1:ObjectMeta immutable:5:b! data:2:%y stringData:4:%s type:3",
    "SecretEnvSource": "localObjectReference:1:^LocalObjectReference optional:2:b!",
    "SecretKeySelector": "localObjectReference:1:^LocalObjectReference key:2 optional:3:b!",
    "SecretProjection": (
        "localObjectReference:1:^LocalObjectReference items:2:*KeyToPath optional:4:b!"
    ),
    "SecretReference": "name:1 namespace:2",
    "SecretVolumeSource": "secretName:1 items:2:*KeyToPath defaultMode:3:i! optional:4:b!",
    "SecurityContext": (
        "capabilities:1:Capabilities privileged:2:b! seLinuxOptions:3:SELinuxOptions"
        " windowsOptions:10:WindowsSecurityContextOptions runAsUser:4:i! runAsGroup:8:i!"
        " runAsNonRoot:5:b! readOnlyRootFilesystem:6:b! allowPrivilegeEscalation:7:b!"
        " procMount:9:s! seccompProfile:11:SeccompProfile appArmorProfile:12:AppArmorProfile"
        " ulimits:13:*Ulimit"
    ),
    "Service": "metadata:1:ObjectMeta spec:2:ServiceSpec status:3:ServiceStatus",
    "ServiceAccount": (
        "metadata:1:ObjectMeta secrets:2:*ObjectReference"
        " imagePullSecrets:3:*LocalObjectReference automountServiceAccountToken:4:b!"
    ),
    "ServiceAccountTokenProjection": "audience:1 expirationSeconds:2:i! path:3",
    "ServicePort": "name:1 protocol:2 appProtocol:6:s! port:3:i! targetPort:4:ios nodePort:5:i",
    "ServiceSpec": (
        "ports:1:*ServicePort selector:2:%s clusterIP:3 clusterIPs:18:*s type:4"
        " externalIPs:5:*s sessionAffinity:7 loadBalancerIP:8 loadBalancerSourceRanges:9:*s"
        " externalName:10 externalTrafficPolicy:11 healthCheckNodePort:12:i"
        " publishNotReadyAddresses:13:b sessionAffinityConfig:14:SessionAffinityConfig"
        " ipFamilies:19:*s ipFamilyPolicy:17:s! allocateLoadBalancerNodePorts:20:b!"
        " loadBalancerClass:21:s! internalTrafficPolicy:22:s! trafficDistribution:23:s!"
    ),
    "ServiceStatus": "loadBalancer:1:LoadBalancerStatus conditions:2:*Condition",
    "SessionAffinityConfig": "clientIP:1:ClientIPConfig",
    "SleepAction": "seconds:1:i!",
    "StorageOSVolumeSource": (
        "volumeName:1 volumeNamespace:2 fsType:3 readOnly:4:b secretRef:5:LocalObjectReference"
    ),
    "Sysctl": "name:1 value:2:s!",
    "TCPSocketAction": "port:1:ios host:2",
    "Taint": "key:1 value:2 effect:3 timeAdded:4:t",
    "Toleration": "key:1 operator:2 value:3 effect:4 tolerationSeconds:5:i!",
    "TopologySpreadConstraint": (
        "maxSkew:1:i! topologyKey:2 whenUnsatisfiable:3 labelSelector:4:LabelSelector"
        " minDomains:5:i! nodeAffinityPolicy:6:s! nodeTaintsPolicy:7:s! matchLabelKeys:8:*s"
    ),
    "TypedLocalObjectReference": "apiGroup:1:s! kind:2 name:3",
    "TypedObjectReference": "apiGroup:1:s! kind:2 name:3 namespace:4:s!",
    "Ulimit": "name:1 hard:2:i! soft:3:i!",
    "Volume": "name:1 volumeSource:2:^VolumeSource",
    "VolumeDevice": "name:1 devicePath:2",
    "VolumeMount": (
        "name:1 readOnly:2:b recursiveReadOnly:7:s! mountPath:3 subPath:4"
        " mountPropagation:5:s! subPathExpr:6"
    ),
    "VolumeMountStatus": (
        "name:1 mountPath:2 readOnly:3:b recursiveReadOnly:4:s! volumeStatus:5:VolumeStatus"
    ),
    "VolumeProjection": (
        "secret:1:SecretProjection downwardAPI:2:DownwardAPIProjection"
        " configMap:3:ConfigMapProjection serviceAccountToken:4:ServiceAccountTokenProjection"
        " clusterTrustBundle:5:ClusterTrustBundleProjection"
        " podCertificate:6:PodCertificateProjection"
    ),
    "VolumeResourceRequirements": "limits:1:%q requests:2:%q",
    "VolumeSource": (
        "hostPath:1:HostPathVolumeSource emptyDir:2:EmptyDirVolumeSource"
        " gcePersistentDisk:3:GCEPersistentDiskVolumeSource"
        " awsElasticBlockStore:4:AWSElasticBlockStoreVolumeSource"
        " gitRepo:5:GitRepoVolumeSource secret:6:SecretVolumeSource nfs:7:NFSVolumeSource"
        " iscsi:8:ISCSIVolumeSource glusterfs:9:GlusterfsVolumeSource"
        " persistentVolumeClaim:10:PersistentVolumeClaimVolumeSource rbd:11:RBDVolumeSource"
        " flexVolume:12:FlexVolumeSource cinder:13:CinderVolumeSource"
        " cephfs:14:CephFSVolumeSource flocker:15:FlockerVolumeSource"
        " downwardAPI:16:DownwardAPIVolumeSource fc:17:FCVolumeSource"
        " azureFile:18:AzureFileVolumeSource configMap:19:ConfigMapVolumeSource"
        " vsphereVolume:20:VsphereVirtualDiskVolumeSource quobyte:21:QuobyteVolumeSource"
        " azureDisk:22:AzureDiskVolumeSource"
        " photonPersistentDisk:23:PhotonPersistentDiskVolumeSource"
        " projected:26:ProjectedVolumeSource portworxVolume:24:PortworxVolumeSource"
        " scaleIO:25:ScaleIOVolumeSource storageos:27:StorageOSVolumeSource"
        " csi:28:CSIVolumeSource ephemeral:29:EphemeralVolumeSource image:30:ImageVolumeSource"
    ),
    "VolumeStatus": "image:1:ImageVolumeStatus",
    "ImageVolumeStatus": "imageRef:1",
    "VsphereVirtualDiskVolumeSource": (
        "volumePath:1 fsType:2 storagePolicyName:3 storagePolicyID:4"
    ),
    "WeightedPodAffinityTerm": "weight:1:i! podAffinityTerm:2:PodAffinityTerm",
    "WindowsSecurityContextOptions": (
        "gmsaCredentialSpecName:1:s! gmsaCredentialSpec:2:s! runAsUserName:3:s! hostProcess:4:b!"
    ),
    "WorkloadReference": "name:1 podGroup:2 podGroupReplicaKey:3",
}

_GROUP_CONDITION = "type:1 status:2 lastTransitionTime:3:t reason:4 message:5"

APPS: dict[str, str] = {
    "Deployment": "metadata:1:ObjectMeta spec:2:DeploymentSpec status:3:DeploymentStatus",
    "DeploymentSpec": (
        "replicas:1:i! selector:2:LabelSelector template:3:PodTemplateSpec"
        " strategy:4:DeploymentStrategy minReadySeconds:5:i revisionHistoryLimit:6:i!"
        " paused:7:b progressDeadlineSeconds:9:i! podReplacementPolicy:10:s!"
    ),
    "DeploymentStatus": (
        "observedGeneration:1:i replicas:2:i updatedReplicas:3:i readyReplicas:7:i"
        " availableReplicas:4:i unavailableReplicas:5:i terminatingReplicas:9:i!"
        " conditions:6:*DeploymentCondition collisionCount:8:i!"
    ),
    "DeploymentCondition": (
        "type:1 status:2 lastUpdateTime:6:t lastTransitionTime:7:t reason:4 message:5"
    ),
    "DeploymentStrategy": "type:1 rollingUpdate:2:RollingUpdateDeployment",
    "RollingUpdateDeployment": "maxUnavailable:1:ios maxSurge:2:ios",
    "ReplicaSet": "metadata:1:ObjectMeta spec:2:ReplicaSetSpec status:3:ReplicaSetStatus",
    "ReplicaSetSpec": (
        "replicas:1:i! minReadySeconds:4:i selector:2:LabelSelector template:3:PodTemplateSpec"
    ),
    "ReplicaSetStatus": (
        "replicas:1:i! fullyLabeledReplicas:2:i readyReplicas:4:i availableReplicas:5:i"
        " terminatingReplicas:7:i! observedGeneration:3:i conditions:6:*ReplicaSetCondition"
    ),
    "ReplicaSetCondition": _GROUP_CONDITION,
    "DaemonSet": "metadata:1:ObjectMeta spec:2:DaemonSetSpec status:3:DaemonSetStatus",
    "DaemonSetSpec": (
        "selector:1:LabelSelector template:2:PodTemplateSpec"
        " updateStrategy:3:DaemonSetUpdateStrategy minReadySeconds:4:i"
        " revisionHistoryLimit:6:i!"
    ),
    "DaemonSetStatus": (
        "currentNumberScheduled:1:i! numberMisscheduled:2:i! desiredNumberScheduled:3:i!"
        " numberReady:4:i! observedGeneration:5:i updatedNumberScheduled:6:i"
        " numberAvailable:7:i numberUnavailable:8:i collisionCount:9:i!"
        " conditions:10:*DaemonSetCondition"
    ),
    "DaemonSetCondition": _GROUP_CONDITION,
    "DaemonSetUpdateStrategy": "type:1 rollingUpdate:2:RollingUpdateDaemonSet",
    "RollingUpdateDaemonSet": "maxUnavailable:1:ios maxSurge:2:ios",
    "StatefulSet": "metadata:1:ObjectMeta spec:2:StatefulSetSpec status:3:StatefulSetStatus",
    "StatefulSetSpec": (
        "replicas:1:i! selector:2:LabelSelector template:3:PodTemplateSpec"
        " volumeClaimTemplates:4:*PersistentVolumeClaim serviceName:5 podManagementPolicy:6"
        " updateStrategy:7:StatefulSetUpdateStrategy revisionHistoryLimit:8:i!"
        " minReadySeconds:9:i"
        " persistentVolumeClaimRetentionPolicy:10:StatefulSetPersistentVolumeClaimRetentionPolicy"
        " ordinals:11:StatefulSetOrdinals"
    ),
    "StatefulSetStatus": (
        "observedGeneration:1:i replicas:2:i! readyReplicas:3:i currentReplicas:4:i"
        " updatedReplicas:5:i currentRevision:6 updateRevision:7 collisionCount:9:i!"
        " conditions:10:*StatefulSetCondition availableReplicas:11:i!"
    ),
    "StatefulSetCondition": _GROUP_CONDITION,
    "StatefulSetUpdateStrategy": "type:1 rollingUpdate:2:RollingUpdateStatefulSetStrategy",
    "RollingUpdateStatefulSetStrategy": "partition:1:i! maxUnavailable:2:ios",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "whenDeleted:1 whenScaled:2",
    "StatefulSetOrdinals": "start:1:i!",
    "ControllerRevision": "metadata:1:ObjectMeta data:2:raw revision:3:i!",
}

BATCH: dict[str, str] = {
    "Job": "metadata:1:ObjectMeta spec:2:JobSpec status:3:JobStatus",
    "JobSpec": (
        "parallelism:1:i! completions:2:i! activeDeadlineSeconds:3:i!"
        " podFailurePolicy:11:PodFailurePolicy successPolicy:16:SuccessPolicy"
        " backoffLimit:7:i! backoffLimitPerIndex:12:i! maxFailedIndexes:13:i!"
        " selector:4:LabelSelector manualSelector:5:b! template:6:PodTemplateSpec"
        " ttlSecondsAfterFinished:8:i! completionMode:9:s! suspend:10:b!"
        " podReplacementPolicy:14:s! managedBy:15:s!"
    ),
    "JobStatus": (
        "conditions:1:*JobCondition startTime:2:t completionTime:3:t active:4:i succeeded:5:i"
        " failed:6:i terminating:11:i! completedIndexes:7 failedIndexes:10:s!"
        " uncountedTerminatedPods:8:UncountedTerminatedPods ready:9:i!"
    ),
    "JobCondition": "type:1 status:2 lastProbeTime:3:t lastTransitionTime:4:t reason:5 message:6",
    "JobTemplateSpec": "metadata:1:ObjectMeta spec:2:JobSpec",
    "CronJob": "metadata:1:ObjectMeta spec:2:CronJobSpec status:3:CronJobStatus",
    "CronJobSpec": (
        "schedule:1 timeZone:8:s! startingDeadlineSeconds:2:i! concurrencyPolicy:3"
        " suspend:4:b! jobTemplate:5:JobTemplateSpec successfulJobsHistoryLimit:6:i!"
        " failedJobsHistoryLimit:7:i!"
    ),
    "CronJobStatus": "active:1:*ObjectReference lastScheduleTime:4:t lastSuccessfulTime:5:t",
    "PodFailurePolicy": "rules:1:*PodFailurePolicyRule",
    "PodFailurePolicyRule": (
        "action:1 onExitCodes:2:PodFailurePolicyOnExitCodesRequirement"
        " onPodConditions:3:*PodFailurePolicyOnPodConditionsPattern"
    ),
    "PodFailurePolicyOnExitCodesRequirement": "containerName:1:s! operator:2 values:3:*i",
    "PodFailurePolicyOnPodConditionsPattern": "type:1 status:2",
    "SuccessPolicy": "rules:1:*SuccessPolicyRule",
    "SuccessPolicyRule": "succeededIndexes:1:s! succeededCount:2:i!",
    "UncountedTerminatedPods": "succeeded:1:*s failed:2:*s",
}

OTHERS: dict[str, str] = {
    # coordination.k8s.io/v1
    "Lease": "metadata:1:ObjectMeta spec:2:LeaseSpec",
    "LeaseSpec": (
        "holderIdentity:1:s! leaseDurationSeconds:2:i! acquireTime:3:mt renewTime:4:mt"
        " leaseTransitions:5:i! strategy:6:s! preferredHolder:7:s!"
    ),
    # scheduling.k8s.io/v1 (value is a plain int32 on the wire: a zero is still a value)
    "PriorityClass": (
        "metadata:1:ObjectMeta value:2:i! globalDefault:3:b description:4 preemptionPolicy:5:s!"
    ),
    # policy/v1
    "Eviction": "metadata:1:ObjectMeta deleteOptions:2:DeleteOptions",
    "PodDisruptionBudget": (
        "metadata:1:ObjectMeta spec:2:PodDisruptionBudgetSpec status:3:PodDisruptionBudgetStatus"
    ),
    "PodDisruptionBudgetSpec": (
        "minAvailable:1:ios selector:2:LabelSelector maxUnavailable:3:ios"
        " unhealthyPodEvictionPolicy:4:s!"
    ),
    "PodDisruptionBudgetStatus": (
        "observedGeneration:1:i disruptedPods:2:%t disruptionsAllowed:3:i!"
        " currentHealthy:4:i! desiredHealthy:5:i! expectedPods:6:i! conditions:7:*Condition"
    ),
    # authentication.k8s.io/v1 (proto names aPIVersion/uID; the JSON names are these)
    "TokenRequest": "metadata:1:ObjectMeta spec:2:TokenRequestSpec status:3:TokenRequestStatus",
    "TokenRequestSpec": (
        "audiences:1:*s expirationSeconds:4:i! boundObjectRef:3:BoundObjectReference"
    ),
    "BoundObjectReference": "kind:1 apiVersion:2 name:3 uid:4",
    "TokenRequestStatus": "token:1:s! expirationTimestamp:2:t",
    "TokenReview": "metadata:1:ObjectMeta spec:2:TokenReviewSpec status:3:TokenReviewStatus",
    "TokenReviewSpec": "token:1 audiences:2:*s",
    "TokenReviewStatus": "authenticated:1:b user:2:UserInfo error:3 audiences:4:*s",
    "UserInfo": "username:1 uid:2 groups:3:*s extra:4:%sl",
    # autoscaling/v1
    "Scale": "metadata:1:ObjectMeta spec:2:ScaleSpec status:3:ScaleStatus",
    "ScaleSpec": "replicas:1:i!",
    "ScaleStatus": "replicas:1:i! selector:2",
}


def tables() -> list[tuple[str | None, dict[str, str]]]:
    """(package, table) pairs; None: look the package up in OTHERS_PACKAGES."""
    return [
        ("meta.v1", META),
        ("core.v1", CORE),
        ("apps.v1", APPS),
        ("batch.v1", BATCH),
        (None, OTHERS),
    ]

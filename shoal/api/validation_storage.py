"""Validation of PersistentVolumes, claims and StorageClasses, with upstream's rules and messages.

What a user meets most: a claim must ask for a size (``spec.resources[storage]:
Required value``) and name at least one known access mode; a PV needs a capacity
and exactly one volume source, and a ``local`` one needs node affinity (it lives
on one node). A claim's spec is fixed once written, except that the controller
sets ``volumeName`` once and a bound claim may grow (never shrink) its requested
size; whether its class allows that is admission's question (it needs the class:
``shoal.apiserver.storage``). A class's provisioner, parameters and reclaim
policy are fixed too, since the volumes it made carry them.

One departure from upstream, on purpose: upstream accepts any provisioner name and
leaves claims of an unknown one Pending forever; shoal knows every provisioner it
runs, so a class naming another is refused at once, with the known ones listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.api.models.storage import StorageClass
from shoal.api.models.volumes import (
    PV_SOURCES,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PersistentVolumeSpec,
)
from shoal.api.quantity import InvalidQuantity, canonical_quantity, parse_quantity
from shoal.api.storage_contract import (
    ACCESS_MODES,
    BINDING_MODES,
    CLASS_RECLAIM_POLICIES,
    KNOWN_PROVISIONERS,
    RECLAIM_POLICIES,
    VOLUME_MODES,
)
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_subdomain,
    forbidden,
    immutable,
    index,
    invalid,
    one_of,
    qualified_name,
    required,
    too_long,
    unsupported,
    validate_label_selector,
)
from shoal.api.validation_pod import _node_selector_term

MAX_PARAMETERS = 512  # upstream's maxProvisionerParameterLen
MAX_PARAMETERS_SIZE = 256 * 1024  # upstream's maxProvisionerParameterSize
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
_NOT_POSITIVE = "must be greater than zero"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _source_name(field: str) -> str:
    return {"scale_io": "scaleIO"}.get(field, _camel(field))


def positive_quantity(path: str, raw: Any) -> list[FieldError]:
    """A quantity that parses and is above zero (upstream's ValidatePositiveQuantityValue)."""
    try:
        value = parse_quantity(raw)
    except InvalidQuantity as e:
        return [invalid(path, raw if isinstance(raw, str) else str(raw), str(e))]
    if value <= 0:
        return [invalid(path, canonical_quantity(raw), _NOT_POSITIVE)]
    return []


def _access_modes(modes: list[str] | None, path: str, *, claim: bool) -> list[FieldError]:
    if not modes:
        return [required(path, "at least 1 access mode is required" if claim else "")]
    errs = [unsupported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _class_name(path: str, name: str | None) -> list[FieldError]:
    return check(path, name, dns1123_subdomain) if name else []


def _no_backsteps(path: str, value: str) -> list[FieldError]:
    if ".." in value.replace("\\", "/").split("/"):
        return [invalid(path, value, "must not contain '..'")]
    return []


# --- PersistentVolume -----------------------------------------------------------------------


def _pv_sources(spec: PersistentVolumeSpec) -> list[FieldError]:
    present = [f for f in PV_SOURCES if getattr(spec, f) is not None]
    if not present:
        return [required("spec", "must specify a volume type")]
    errs: list[FieldError] = []
    if len(present) > 1:
        errs.append(forbidden(child("spec", _source_name(present[1])), "may not specify more than 1 volume type"))
    if spec.local is not None:
        if not spec.local.path:
            errs.append(required("spec.local.path"))
        else:
            errs += _no_backsteps("spec.local.path", spec.local.path)
        if spec.node_affinity is None:
            errs.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
    if spec.host_path is not None:
        if not spec.host_path.path:
            errs.append(required("spec.hostPath.path"))
        else:
            errs += _no_backsteps("spec.hostPath.path", spec.host_path.path)
        errs += one_of("spec.hostPath.type", spec.host_path.type, HOST_PATH_TYPES)
    if spec.nfs is not None:
        if not spec.nfs.server:
            errs.append(required("spec.nfs.server"))
        if not spec.nfs.path:
            errs.append(required("spec.nfs.path"))
        elif not spec.nfs.path.startswith("/"):
            errs.append(invalid("spec.nfs.path", spec.nfs.path, "must be an absolute path"))
    return errs


def _capacity(capacity: Mapping[str, Any] | None) -> list[FieldError]:
    if not capacity:
        return [required("spec.capacity")]
    errs: list[FieldError] = []
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(unsupported("spec.capacity", dict(capacity), ("storage",)))
    for name, raw in capacity.items():
        errs += positive_quantity(index("spec.capacity", name), raw)
    return errs


def _node_affinity(spec: PersistentVolumeSpec) -> list[FieldError]:
    if spec.node_affinity is None:
        return []
    req = spec.node_affinity.required
    if req is None:
        return [required("spec.nodeAffinity.required", "must specify required node constraints")]
    terms_path = "spec.nodeAffinity.required.nodeSelectorTerms"
    if not req.node_selector_terms:
        return [required(terms_path, "must have at least one node selector term")]
    errs: list[FieldError] = []
    for i, term in enumerate(req.node_selector_terms):
        errs += _node_selector_term(term, index(terms_path, i))
    return errs


def validate_persistent_volume(pv: PersistentVolume) -> list[FieldError]:
    spec = pv.spec
    if spec is None:
        return [required("spec")]
    errs = _access_modes(spec.access_modes, "spec.accessModes", claim=False)
    errs += _capacity(spec.capacity)
    errs += one_of("spec.persistentVolumeReclaimPolicy", spec.persistent_volume_reclaim_policy, RECLAIM_POLICIES)
    errs += _class_name("spec.storageClassName", spec.storage_class_name)
    errs += one_of("spec.volumeMode", spec.volume_mode, VOLUME_MODES)
    errs += _node_affinity(spec)
    errs += _pv_sources(spec)
    if spec.volume_attributes_class_name == "":
        errs.append(required("spec.volumeAttributesClassName", "an empty string is disallowed"))
    return errs


def _source_of(spec: PersistentVolumeSpec | None) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in PV_SOURCES if spec is not None and getattr(spec, f) is not None}


def validate_persistent_volume_update(new: PersistentVolume, old: PersistentVolume) -> list[FieldError]:
    errs: list[FieldError] = []
    if _source_of(new.spec) != _source_of(old.spec):
        errs.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
    ns, os_ = new.spec, old.spec
    errs += immutable("spec.volumeMode", ns.volume_mode if ns else None, os_.volume_mode if os_ else None)
    if os_ is not None and os_.node_affinity is not None:
        errs += immutable("spec.nodeAffinity", ns.node_affinity if ns else None, os_.node_affinity)
    return errs


# --- PersistentVolumeClaim -------------------------------------------------------------------


def _claim_spec(spec: PersistentVolumeClaimSpec, path: str) -> list[FieldError]:
    errs = _access_modes(spec.access_modes, child(path, "accessModes"), claim=True)
    errs += validate_label_selector(spec.selector, child(path, "selector"))
    requests = (spec.resources.requests if spec.resources is not None else None) or {}
    at = index(child(path, "resources"), "storage")
    if "storage" not in requests:
        errs.append(required(at))
    else:
        errs += positive_quantity(at, requests["storage"])
    errs += _class_name(child(path, "storageClassName"), spec.storage_class_name)
    errs += one_of(child(path, "volumeMode"), spec.volume_mode, VOLUME_MODES)
    if spec.volume_name:
        errs += check(child(path, "volumeName"), spec.volume_name, dns1123_subdomain)
    for field, ref in (("dataSource", spec.data_source), ("dataSourceRef", spec.data_source_ref)):
        if ref is None:
            continue
        if not ref.name:
            errs.append(required(child(child(path, field), "name")))
        if not ref.kind:
            errs.append(required(child(child(path, field), "kind")))
    if spec.volume_attributes_class_name == "":
        errs.append(required(child(path, "volumeAttributesClassName"), "an empty string is disallowed"))
    return errs


def validate_persistent_volume_claim(pvc: PersistentVolumeClaim) -> list[FieldError]:
    if pvc.spec is None:
        return [required("spec")]
    return _claim_spec(pvc.spec, "spec")


def requested_storage(spec: PersistentVolumeClaimSpec | None) -> Any:
    requests = (spec.resources.requests if spec is not None and spec.resources is not None else None) or {}
    return requests.get("storage")


def _quantity_or_none(raw: Any) -> Any:
    try:
        return parse_quantity(raw) if raw is not None else None
    except InvalidQuantity:
        return None


def validate_persistent_volume_claim_update(new: PersistentVolumeClaim,
                                            old: PersistentVolumeClaim) -> list[FieldError]:
    """Upstream's ValidatePersistentVolumeClaimUpdate: a claim's spec is fixed, but for
    ``volumeName`` (set once), a class set where none was (the retroactive default), and, on a
    bound claim, its requested size and volumeAttributesClassName."""
    import msgspec

    ns = new.spec or PersistentVolumeClaimSpec()
    os_ = old.spec or PersistentVolumeClaimSpec()
    a = msgspec.to_builtins(ns)
    b = msgspec.to_builtins(os_)
    if not os_.volume_name:
        b.pop("volumeName", None)
        a.pop("volumeName", None)
    if os_.storage_class_name is None and ns.storage_class_name is not None and not os_.volume_name:
        a.pop("storageClassName", None)
    bound = new.status is not None and new.status.phase == "Bound"
    if bound:
        for spec in (a, b):
            (spec.get("resources") or {}).get("requests", {}).pop("storage", None)
            spec.pop("volumeAttributesClassName", None)
    errs: list[FieldError] = []
    if a != b:
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                      "volumeAttributesClassName for bound claims"))
    new_size, old_size = _quantity_or_none(requested_storage(ns)), _quantity_or_none(requested_storage(os_))
    if new_size is not None and old_size is not None and new_size < old_size:
        errs.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    return errs


# --- StorageClass -----------------------------------------------------------------------------


def _parameters(params: Mapping[str, str] | None) -> list[FieldError]:
    if not params:
        return []
    errs: list[FieldError] = []
    if len(params) > MAX_PARAMETERS:
        errs.append(invalid("parameters", f"{len(params)} parameters",
                            f"must have at most {MAX_PARAMETERS} parameters"))
    if any(not k for k in params):
        errs.append(invalid("parameters", "", "field can not be empty."))
    if sum(len(k) + len(v) for k, v in params.items()) > MAX_PARAMETERS_SIZE:
        errs.append(too_long("parameters", MAX_PARAMETERS_SIZE))
    return errs


def _allowed_topologies(sc: StorageClass) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, term in enumerate(sc.allowed_topologies or []):
        at = index("allowedTopologies", i)
        exprs = term.match_label_expressions or []
        if not exprs:
            errs.append(required(at, "must contain at least one requirement"))
        keys: set[str] = set()
        for j, req in enumerate(exprs):
            rp = index(child(at, "matchLabelExpressions"), j)
            errs += check(child(rp, "key"), req.key, qualified_name)
            if req.key in keys:
                errs.append(invalid(child(rp, "key"), req.key, "duplicate key"))
            keys.add(req.key)
            if not req.values:
                errs.append(required(child(rp, "values"), "must specify as least one value"))
    return errs


def validate_storage_class(sc: StorageClass) -> list[FieldError]:
    errs: list[FieldError] = []
    if not sc.provisioner:
        errs.append(required("provisioner"))
    else:
        bad = check("provisioner", sc.provisioner.lower(), qualified_name)
        errs += bad
        if not bad and sc.provisioner not in KNOWN_PROVISIONERS:
            errs.append(unsupported("provisioner", sc.provisioner, KNOWN_PROVISIONERS))
    errs += _parameters(sc.parameters)
    errs += one_of("reclaimPolicy", sc.reclaim_policy, CLASS_RECLAIM_POLICIES)
    if sc.volume_binding_mode is None:
        errs.append(required("volumeBindingMode"))
    else:
        errs += one_of("volumeBindingMode", sc.volume_binding_mode, BINDING_MODES)
    errs += _allowed_topologies(sc)
    return errs


def validate_storage_class_update(new: StorageClass, old: StorageClass) -> list[FieldError]:
    errs: list[FieldError] = []
    if (new.parameters or {}) != (old.parameters or {}):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.provisioner != old.provisioner:
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.reclaim_policy != old.reclaim_policy:
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs += immutable("volumeBindingMode", new.volume_binding_mode, old.volume_binding_mode)
    return errs

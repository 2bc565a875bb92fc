"""Validation of StatefulSets and ControllerRevisions, with upstream's messages.

What users hit most: the selector must match the template's labels (a 422 at
``spec.template.metadata.labels``), the pod management policy and update
strategy are closed sets, and after creation only the fields a running set can
follow may change (replicas, ordinals, template, updateStrategy,
revisionHistoryLimit, persistentVolumeClaimRetentionPolicy, minReadySeconds):
anything else, a claim template above all, is refused with upstream's
sentence, since the controller could not apply it to existing pods and claims.

Upstream leaves the pod template's spec unvalidated, because its volume mounts
name claim templates that are not volumes of the template (its own TODO asks
for "the union of the given volumes and volumeClaims"). shoal does that: the
template is validated as the controller will create pods from it, with one
``persistentVolumeClaim`` volume per claim template, so a mount naming neither
is a 422 now rather than a pod that can never be created. Each claim template
is validated as a claim (size, access modes, class), at its own path.
"""

from __future__ import annotations

import msgspec

from shoal.api.models.apps import ControllerRevision, StatefulSet, StatefulSetSpec
from shoal.api.models.pod import PersistentVolumeClaimVolumeSource, PodTemplateSpec, Volume
from shoal.api.models.volumes import PersistentVolumeClaim
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_label,
    forbidden,
    index,
    invalid,
    non_negative,
    required,
    unsupported,
)
from shoal.api.validation_storage import validate_persistent_volume_claim
from shoal.api.validation_workloads import _selector, int_or_percent, validate_template

POLICIES = ("OrderedReady", "Parallel")
STRATEGIES = ("RollingUpdate", "OnDelete")
RETENTION = ("Delete", "Retain")  # sorted, as upstream lists them
MUTABLE = ("replicas", "ordinals", "template", "update_strategy", "revision_history_limit",
           "persistent_volume_claim_retention_policy", "min_ready_seconds")
FORBIDDEN_UPDATE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                    "'minReadySeconds' are forbidden")


def _claim_templates(claims: list[PersistentVolumeClaim], path: str) -> tuple[list[FieldError], list[str]]:
    """Errors of each claim template, and the names usable as pod volume names."""
    errs: list[FieldError] = []
    names: list[str] = []
    for i, claim in enumerate(claims):
        at = index(path, i)
        name = claim.metadata.name if claim.metadata is not None else None
        if not name:
            errs.append(required(child(child(at, "metadata"), "name"), "name or generateName is required"))
        else:
            bad = check(child(child(at, "metadata"), "name"), name, dns1123_label)
            errs += bad
            if not bad and name not in names:
                names.append(name)
        errs += [FieldError(child(at, e.path), e.type, e.detail, e.value)
                 for e in validate_persistent_volume_claim(claim)]
    return errs, names


def _with_claim_volumes(template: PodTemplateSpec | None, names: list[str]) -> PodTemplateSpec | None:
    """The template as pods get it: a claim volume for each claim template the template does not name."""
    if template is None or template.spec is None or not names:
        return template
    own = {v.name for v in template.spec.volumes or []}
    extra = [Volume(name=n, persistent_volume_claim=PersistentVolumeClaimVolumeSource(claim_name=n))
             for n in names if n not in own]
    if not extra:
        return template
    spec = msgspec.structs.replace(template.spec, volumes=[*(template.spec.volumes or []), *extra])
    return msgspec.structs.replace(template, spec=spec)


def _strategy(spec: StatefulSetSpec) -> list[FieldError]:
    strategy = spec.update_strategy
    path = "spec.updateStrategy"
    if strategy is None or not strategy.type:
        return [required(path)]
    if strategy.type == "OnDelete":
        if strategy.rolling_update is not None:
            return [invalid(child(path, "rollingUpdate"), msgspec.to_builtins(strategy.rolling_update),
                            "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if strategy.type != "RollingUpdate":
        return [invalid(path, strategy.type, "must be 'RollingUpdate' or 'OnDelete'")]
    ru = strategy.rolling_update
    if ru is None:
        return []
    at = child(path, "rollingUpdate")
    errs = non_negative(child(at, "partition"), ru.partition)
    if ru.max_unavailable is not None:
        errs += int_or_percent(child(at, "maxUnavailable"), ru.max_unavailable, at_most_100=True)
        if ru.max_unavailable in (0, "0%"):
            errs.append(invalid(child(at, "maxUnavailable"), ru.max_unavailable, "cannot be 0"))
    return errs


def validate_stateful_set(sts: StatefulSet) -> list[FieldError]:
    spec = sts.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    if not spec.pod_management_policy:
        errs.append(required("spec.podManagementPolicy"))
    elif spec.pod_management_policy not in POLICIES:
        errs.append(invalid("spec.podManagementPolicy", spec.pod_management_policy,
                            "must be 'OrderedReady' or 'Parallel'"))
    errs += _strategy(spec)
    policy = spec.persistent_volume_claim_retention_policy
    if policy is not None:
        for field, value in (("whenDeleted", policy.when_deleted), ("whenScaled", policy.when_scaled)):
            at = child("spec.persistentVolumeClaimRetentionPolicy", field)
            if value is not None and value not in RETENTION:
                errs.append(unsupported(at, value, RETENTION))
    errs += non_negative("spec.replicas", spec.replicas)
    errs += non_negative("spec.minReadySeconds", spec.min_ready_seconds)
    errs += non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
    if spec.ordinals is not None:
        errs += non_negative("spec.ordinals.start", spec.ordinals.start)
    if spec.service_name:
        errs += check("spec.serviceName", spec.service_name, dns1123_label)
    errs += _selector(spec.selector, "spec.selector", "statefulset")
    claim_errs, names = _claim_templates(spec.volume_claim_templates or [], "spec.volumeClaimTemplates")
    errs += validate_template(_with_claim_volumes(spec.template, names), "spec.template", selector=spec.selector,
                              restart_policies=("Always",), owner="StatefulSet")
    errs += claim_errs
    return errs


def validate_stateful_set_update(new: StatefulSet, old: StatefulSet) -> list[FieldError]:
    """Only the fields a running set can follow may change (upstream's ValidateStatefulSetUpdate)."""
    if new.spec is None or old.spec is None:
        return []
    changed = [f for f in StatefulSetSpec.__struct_fields__
               if f not in MUTABLE and getattr(new.spec, f) != getattr(old.spec, f)]
    return [forbidden("spec", FORBIDDEN_UPDATE)] if changed else []


def validate_controller_revision(rev: ControllerRevision) -> list[FieldError]:
    errs: list[FieldError] = []
    if rev.data is None:
        errs.append(required("data", "data is mandatory"))
    errs += non_negative("revision", rev.revision)
    return errs


def validate_controller_revision_update(new: ControllerRevision, old: ControllerRevision) -> list[FieldError]:
    if new.data != old.data:
        return [invalid("data", new.data, "field is immutable")]
    return []

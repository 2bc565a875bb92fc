"""Validation of workloads: Deployment, ReplicaSet, DaemonSet, Job and CronJob.

The rules that matter most to users: a selector must exist and match the pod
template's labels, template restart policies fit the controller (``Always``
for apps, ``OnFailure``/``Never`` for Jobs), rolling-update numbers are ints or
percentages, a CronJob's schedule parses, and selectors (and a Job's template)
never change after creation.

``parse_cron`` is the standard five-field parser (with ``@daily``-style macros)
that upstream's CronJob uses; it returns the allowed values of each field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.api.meta import LabelSelector
from shoal.api.models.apps import DaemonSet, Deployment, ReplicaSet
from shoal.api.models.batch import CronJob, Job, JobSpec
from shoal.api.models.pod import IntOrString, PodTemplateSpec
from shoal.api.validation_base import (
    FieldError,
    child,
    forbidden,
    immutable,
    invalid,
    non_negative,
    one_of,
    positive,
    required,
    selector_is_empty,
    selector_matches,
    unsupported,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from shoal.api.validation_pod import validate_pod_spec

_PERCENT = re.compile(r"^[0-9]+%$")


def validate_template(
    template: PodTemplateSpec | None,
    path: str,
    *,
    selector: LabelSelector | None,
    restart_policies: tuple[str, ...],
    owner: str = "ReplicaSet",
) -> list[FieldError]:
    if template is None:
        return [required(path)]
    errs: list[FieldError] = []
    labels = template.metadata.labels if template.metadata else None
    if template.metadata is not None:
        errs += validate_labels(labels, child(child(path, "metadata"), "labels"))
        errs += validate_annotations(
            template.metadata.annotations, child(child(path, "metadata"), "annotations")
        )
    if (
        selector is not None
        and not selector_is_empty(selector)
        and not selector_matches(selector, labels)
    ):
        errs.append(
            invalid(
                child(child(path, "metadata"), "labels"),
                labels or {},
                "`selector` does not match template `labels`",
            )
        )
    spec_path = child(path, "spec")
    errs += validate_pod_spec(template.spec, spec_path)
    if template.spec is not None:
        policy = template.spec.restart_policy
        if policy is not None and policy not in restart_policies:
            errs.append(unsupported(child(spec_path, "restartPolicy"), policy, restart_policies))
        if owner != "Job" and template.spec.active_deadline_seconds is not None:
            errs.append(
                forbidden(
                    child(spec_path, "activeDeadlineSeconds"),
                    f"activeDeadlineSeconds in {owner} is not Supported",
                )
            )
    return errs


def _selector(selector: LabelSelector | None, path: str, kind: str) -> list[FieldError]:
    if selector is None:
        return [required(path)]
    if selector_is_empty(selector):
        return [invalid(path, {}, f"empty selector is invalid for {kind}")]
    return validate_label_selector(selector, path)


def int_or_percent(
    path: str, value: IntOrString | None, *, at_most_100: bool = False
) -> list[FieldError]:
    if value is None:
        return []
    if isinstance(value, int):
        return non_negative(path, value)
    if not _PERCENT.match(value):
        return [
            invalid(
                path,
                value,
                "a valid percent string must be a numeric string followed by an ending '%' "
                "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )
        ]
    if at_most_100 and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


def _is_zero(value: IntOrString | None) -> bool:
    return value in (0, "0%")


# --- apps ---------------------------------------------------------------------------------------------


def validate_deployment(dep: Deployment) -> list[FieldError]:
    spec = dep.spec
    if spec is None:
        return [required("spec")]
    errs = non_negative("spec.replicas", spec.replicas)
    errs += _selector(spec.selector, "spec.selector", "deployment")
    errs += validate_template(
        spec.template, "spec.template", selector=spec.selector, restart_policies=("Always",)
    )
    strategy = spec.strategy
    if strategy is not None:
        errs += one_of("spec.strategy.type", strategy.type, ("Recreate", "RollingUpdate"))
        ru = strategy.rolling_update
        if strategy.type == "Recreate" and ru is not None:
            errs.append(
                forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            )
        elif ru is not None:
            path = "spec.strategy.rollingUpdate"
            errs += int_or_percent(
                child(path, "maxUnavailable"), ru.max_unavailable, at_most_100=True
            )
            errs += int_or_percent(child(path, "maxSurge"), ru.max_surge)
            if _is_zero(ru.max_unavailable) and _is_zero(ru.max_surge):
                errs.append(
                    invalid(
                        child(path, "maxUnavailable"),
                        ru.max_unavailable,
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
    errs += non_negative("spec.minReadySeconds", spec.min_ready_seconds)
    errs += non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
    errs += non_negative("spec.progressDeadlineSeconds", spec.progress_deadline_seconds)
    if spec.progress_deadline_seconds is not None and spec.progress_deadline_seconds <= (
        spec.min_ready_seconds or 0
    ):
        errs.append(
            invalid(
                "spec.progressDeadlineSeconds",
                spec.progress_deadline_seconds,
                "must be greater than minReadySeconds",
            )
        )
    return errs


def validate_replica_set(rs: ReplicaSet) -> list[FieldError]:
    spec = rs.spec
    if spec is None:
        return [required("spec")]
    errs = non_negative("spec.replicas", spec.replicas)
    errs += non_negative("spec.minReadySeconds", spec.min_ready_seconds)
    errs += _selector(spec.selector, "spec.selector", "replicaset")
    errs += validate_template(
        spec.template, "spec.template", selector=spec.selector, restart_policies=("Always",)
    )
    return errs


def validate_daemon_set(ds: DaemonSet) -> list[FieldError]:
    spec = ds.spec
    if spec is None:
        return [required("spec")]
    errs = _selector(spec.selector, "spec.selector", "daemonset")
    errs += validate_template(
        spec.template,
        "spec.template",
        selector=spec.selector,
        restart_policies=("Always",),
        owner="DaemonSet",
    )
    strategy = spec.update_strategy
    if strategy is not None:
        errs += one_of("spec.updateStrategy.type", strategy.type, ("RollingUpdate", "OnDelete"))
        ru = strategy.rolling_update
        if ru is not None:
            path = "spec.updateStrategy.rollingUpdate"
            errs += int_or_percent(
                child(path, "maxUnavailable"), ru.max_unavailable, at_most_100=True
            )
            errs += int_or_percent(child(path, "maxSurge"), ru.max_surge, at_most_100=True)
            if _is_zero(ru.max_unavailable) and _is_zero(ru.max_surge):
                errs.append(
                    invalid(
                        child(path, "maxUnavailable"),
                        ru.max_unavailable,
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
    errs += non_negative("spec.minReadySeconds", spec.min_ready_seconds)
    errs += non_negative("spec.revisionHistoryLimit", spec.revision_history_limit)
    return errs


def validate_selector_update(
    new_sel: LabelSelector | None, old_sel: LabelSelector | None
) -> list[FieldError]:
    return immutable("spec.selector", new_sel, old_sel)


# --- batch ------------------------------------------------------------------------------------------------


def validate_job_spec(
    spec: JobSpec | None, path: str, *, in_template: bool = False
) -> list[FieldError]:
    if spec is None:
        return [required(path)]
    errs: list[FieldError] = []
    for name, value in (
        ("parallelism", spec.parallelism),
        ("completions", spec.completions),
        ("backoffLimit", spec.backoff_limit),
        ("ttlSecondsAfterFinished", spec.ttl_seconds_after_finished),
        ("backoffLimitPerIndex", spec.backoff_limit_per_index),
    ):
        errs += non_negative(child(path, name), value)
    errs += positive(child(path, "activeDeadlineSeconds"), spec.active_deadline_seconds)
    errs += one_of(child(path, "completionMode"), spec.completion_mode, ("NonIndexed", "Indexed"))
    if spec.completion_mode == "Indexed" and spec.completions is None:
        errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
    if spec.backoff_limit_per_index is not None and spec.completion_mode != "Indexed":
        errs.append(
            invalid(
                child(path, "backoffLimitPerIndex"),
                spec.backoff_limit_per_index,
                "requires indexed completion mode",
            )
        )
    errs += one_of(
        child(path, "podReplacementPolicy"),
        spec.pod_replacement_policy,
        ("TerminatingOrFailed", "Failed"),
    )
    selector = spec.selector
    if spec.manual_selector and selector is None and not in_template:
        errs.append(required(child(path, "selector")))
    if selector is not None:
        errs += validate_label_selector(selector, child(path, "selector"))
    errs += validate_template(
        spec.template,
        child(path, "template"),
        selector=None if in_template else selector,
        restart_policies=("OnFailure", "Never"),
        owner="Job",
    )
    template_spec = spec.template.spec if spec.template else None
    if template_spec is not None and template_spec.restart_policy is None:
        errs.append(
            required(
                child(child(child(path, "template"), "spec"), "restartPolicy"),
                'valid values: "OnFailure", "Never"',
            )
        )
    return errs


def validate_job(job: Job) -> list[FieldError]:
    return validate_job_spec(job.spec, "spec")


def validate_job_update(new: Job, old: Job) -> list[FieldError]:
    if new.spec is None or old.spec is None:
        return []
    errs = immutable("spec.selector", new.spec.selector, old.spec.selector)
    errs += immutable("spec.completionMode", new.spec.completion_mode, old.spec.completion_mode)
    if new.spec.completion_mode != "Indexed" or new.spec.completions != new.spec.parallelism:
        errs += immutable("spec.completions", new.spec.completions, old.spec.completions)
    if not old.spec.suspend:
        errs += immutable("spec.template", new.spec.template, old.spec.template)
    return errs


CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def validate_cron_job(cj: CronJob) -> list[FieldError]:
    errs: list[FieldError] = []
    name = cj.metadata.name if cj.metadata else None
    if name and len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = cj.spec
    if spec is None:
        return [*errs, required("spec")]
    if not spec.schedule:
        errs.append(required("spec.schedule"))
    else:
        if re.match(r"^\s*(CRON_)?TZ=", spec.schedule):
            errs.append(
                invalid(
                    "spec.schedule",
                    spec.schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
        else:
            try:
                parse_cron(spec.schedule)
            except ValueError as exc:
                errs.append(invalid("spec.schedule", spec.schedule, str(exc)))
    if spec.time_zone is not None and (
        not spec.time_zone or " " in spec.time_zone or spec.time_zone.startswith(("/", "."))
    ):
        errs.append(invalid("spec.timeZone", spec.time_zone, "unknown time zone"))
    errs += one_of(
        "spec.concurrencyPolicy", spec.concurrency_policy, ("Allow", "Forbid", "Replace")
    )
    errs += non_negative("spec.startingDeadlineSeconds", spec.starting_deadline_seconds)
    errs += non_negative("spec.successfulJobsHistoryLimit", spec.successful_jobs_history_limit)
    errs += non_negative("spec.failedJobsHistoryLimit", spec.failed_jobs_history_limit)
    if spec.job_template is None:
        errs.append(required("spec.jobTemplate"))
    else:
        meta = spec.job_template.metadata
        if meta is not None:
            errs += validate_labels(meta.labels, "spec.jobTemplate.metadata.labels")
        errs += validate_job_spec(spec.job_template.spec, "spec.jobTemplate.spec", in_template=True)
    return errs


# --- cron -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """The allowed values of each field; ``every`` is set for ``@every <duration>``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_star: bool = False  # upstream ORs dom and dow unless one of them is ``*``
    dow_star: bool = False
    every_seconds: float | None = None


_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_MACRO_FIELDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION = re.compile(r"^(?:([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_cron(text: str) -> CronSchedule:
    """Parse a standard cron expression or macro; raises ``ValueError`` with upstream's wording."""
    spec = text.strip()
    if spec.startswith("@every "):
        duration = spec[len("@every ") :].strip()
        if not _DURATION.match(duration):
            raise ValueError(
                f'failed to parse duration {spec}: time: invalid duration "{duration}"'
            )
        seconds = sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(duration))
        every = frozenset[int]()
        return CronSchedule(every, every, every, every, every, every_seconds=max(seconds, 1.0))
    if spec.startswith("@"):
        if spec not in _MACRO_FIELDS:
            raise ValueError(f"unrecognized descriptor: {spec}")
        spec = _MACRO_FIELDS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    sets = [_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _BOUNDS, strict=True)]
    return CronSchedule(
        minutes=sets[0],
        hours=sets[1],
        days_of_month=sets[2],
        months=sets[3],
        days_of_week=sets[4],
        dom_star=fields[2] in ("*", "?"),
        dow_star=fields[4] in ("*", "?"),
    )


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    return int(text)


def _field(text: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            step = _number(step_text, {})
            if step == 0:
                raise ValueError(f"step of range should be a positive number: {part}")
        if rng in ("*", "?"):
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(rng, names)
            end = hi if step_text else start
        if start < lo:
            raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {part}")
        if end > hi:
            raise ValueError(f"end of range ({end}) above maximum ({hi}): {part}")
        if start > end:
            raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        values.update(range(start, end + 1, step))
    return frozenset(values)

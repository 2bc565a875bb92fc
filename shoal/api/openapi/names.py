"""Upstream schema names for shoal's model classes.

kubectl and other clients recognise Kubernetes types by their OpenAPI names
(``io.k8s.api.core.v1.Pod``, ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``),
and ``kubectl explain`` shows the last dotted part as a field's type. The name is
derived from where the class lives, not listed by hand, so a new model gets the
right name as soon as its kind is registered in ``shoal.api.models.KINDS``:

* classes of ``shoal.api.meta`` are ``io.k8s.apimachinery.pkg.apis.meta.v1.<Name>``;
* classes of a model module are ``io.k8s.api.<package>.<version>.<Name>``, where
  the module's group version is that of the kinds it defines and ``<package>`` is
  the group's first label (``core`` for the core group, ``coordination`` for
  ``coordination.k8s.io``), which is how upstream names its Go packages. Nested
  types keep the package of their module, so ``PodTemplateSpec`` and ``Container``
  stay in ``core.v1`` when a Deployment uses them.
"""

from __future__ import annotations

from functools import cache

from shoal.api.models import KINDS

META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
META_MODULE = "shoal.api.meta"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def package_of_group_version(group_version: str) -> str:
    """``apps/v1`` -> ``io.k8s.api.apps.v1``; ``v1`` -> ``io.k8s.api.core.v1``."""
    group, _, version = group_version.rpartition("/")
    if not version:
        raise ValueError(f"empty version in group version {group_version!r}")
    label = group.split(".", 1)[0] if group else "core"
    return f"io.k8s.api.{label}.{version}"


@cache
def _module_packages() -> dict[str, str]:
    """Model module -> upstream package, learnt from the registered kinds."""
    out: dict[str, str] = {}
    for (api_version, _kind), cls in KINDS.items():
        module = cls.__module__
        if module == META_MODULE:
            continue
        out.setdefault(module, package_of_group_version(api_version))
    return out


def package_of(cls: type) -> str:
    """The upstream package a model class belongs to.

    A class whose module defines no registered kind falls back to a name under
    ``io.shoal.`` built from its module, so every class still gets a stable,
    distinct name.
    """
    module = cls.__module__
    if module == META_MODULE:
        return META_PACKAGE
    known = _module_packages().get(module)
    if known is not None:
        return known
    return "io.shoal." + module.replace("shoal.", "", 1)


def schema_name(cls: type) -> str:
    """The OpenAPI component name of a model class (``io.k8s.api.core.v1.Pod``)."""
    return f"{package_of(cls)}.{cls.__name__}"


def short_name(name: str) -> str:
    """The last dotted part of a schema name: what ``kubectl explain`` prints."""
    return name.rsplit(".", 1)[-1]

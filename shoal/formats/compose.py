"""A Compose file as ``docker stack deploy`` reads it, into Swarm specs. Pure.

The result is what the docker CLI would send to a Swarm manager: the stack's
networks, secrets, configs and ``ServiceSpec``s (scoped ``<stack>_<name>``
and labelled ``com.docker.stack.namespace``), which ``shoal.formats.swarm``
then turns into Kubernetes objects. So ``shoal stack deploy`` and
``docker stack deploy`` make the same objects from the same file.

Read: Compose file format 3.x and the Compose Specification — ``deploy``
(mode, replicas, resources, restart_policy, update_config, rollback_config,
placement, endpoint_mode, labels), ``healthcheck``, ``ports`` (short and long),
``environment`` and ``env_file``, ``command``, ``entrypoint``, ``secrets``
and ``configs`` (file and external), ``volumes`` (named, bind, tmpfs),
``networks`` with aliases, ``labels``, ``hostname``, ``user``,
``working_dir``, ``read_only``, ``stop_grace_period``; ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}`` and ``$$`` from the
environment and ``.env``; ``x-`` fields are ignored. ``depends_on`` is
accepted and ignored, as ``docker stack deploy`` does (Swarm starts services
together). Other service keys are ignored with one warning line, like
Docker's "Ignoring unsupported options". Errors — YAML, an unknown top-level
key, an invalid duration, size or port, a bad constraint — are
``ComposeError`` with the file's line where there is one, raised before
anything is created.
"""

from __future__ import annotations

import base64
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from shoal.formats.swarm.placement import check_constraint
from shoal.formats.swarm.wire import SpecError

STACK_LABEL = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"
_TOP = frozenset({"version", "services", "networks", "volumes", "secrets", "configs", "name"})
_SERVICE_KEYS = frozenset({
    "image", "command", "entrypoint", "environment", "env_file", "ports", "deploy", "healthcheck", "secrets",
    "configs", "volumes", "networks", "depends_on", "labels", "hostname", "user", "working_dir", "read_only",
    "stop_grace_period", "stop_signal", "tty", "stdin_open", "init", "cap_add", "cap_drop", "sysctls",
    "extra_hosts", "dns", "dns_search", "logging"})
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$", re.IGNORECASE)
_VAR = re.compile(r"\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class ComposeError(ValueError):
    """The file cannot be deployed; the message names the file's line where there is one."""


@dataclass
class Stack:
    name: str
    networks: list[dict[str, Any]] = field(default_factory=list)  # network create bodies
    external_networks: list[str] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)  # SecretSpecs (Data base64)
    configs: list[dict[str, Any]] = field(default_factory=list)  # ConfigSpecs
    services: list[dict[str, Any]] = field(default_factory=list)  # ServiceSpecs
    warnings: list[str] = field(default_factory=list)


# --- reading --------------------------------------------------------------------------------------
def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out.update(_lines(v, (*path, key)))
            out[(*path, key)] = k.start_mark.line + 1  # a key's own line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_lines(v, (*path, i)))
    return out


def interpolate(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """``${VAR}`` and friends in every string of ``value`` (keys included, as Compose does for values only)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, where) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        expr = m.group(1) if m.group(1) is not None else m.group(2)
        for op in (":?", "?", ":-", "-"):
            if op in expr:
                name, _, arg = expr.partition(op)
                val = env.get(name)
                unset = val is None or (op.startswith(":") and val == "")
                if op.endswith("?"):
                    if unset:
                        raise ComposeError(f"{where}: required variable {name} is missing a value: {arg}")
                    return str(val)
                return arg if unset else str(val)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", expr):
            raise ComposeError(f"{where}: invalid interpolation format {m.group(0)!r}")
        return env.get(expr, "")

    return _VAR.sub(sub, value)


def parse_dotenv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.removeprefix("export ").partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


# --- values ---------------------------------------------------------------------------------------
def duration(value: Any, where: str) -> int:
    """A Compose duration (``1m30s``, ``500ms``; a bare number is seconds) as nanoseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1_000_000_000)
    text = str(value).strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ComposeError(f"{where}: invalid duration {value!r} (e.g. 10s, 1m30s, 500ms)")
    return int(total)


def size(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ComposeError(f"{where}: invalid size {value!r} (e.g. 64M, 1g, 512k)")
    return int(float(m.group(1)) * 1024 ** " kmgtp".index(m.group(2).lower() or " "))


def _cmd(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ComposeError(f"{where}: expected a string or a list")


def _env(value: Any, where: str) -> dict[str, str | None]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): None if v is None else _scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, str | None] = {}
        for item in value:
            k, eq, v = str(item).partition("=")
            out[k] = v if eq else None
        return out
    raise ComposeError(f"{where}: expected a mapping or a list")


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _labels(value: Any, where: str) -> dict[str, str]:
    return {k: v or "" for k, v in _env(value, where).items()}


def _port_range(text: str, where: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise ComposeError(f"{where}: invalid port {text!r}") from None
    if not (0 < a <= b <= 65535):
        raise ComposeError(f"{where}: port {text!r} is out of range (1-65535)")
    return list(range(a, b + 1))


def ports(value: Any, where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, p in enumerate(value or []):
        w = f"{where}[{i}]"
        if isinstance(p, dict):
            target = _port_range(str(p.get("target", "")), w)
            published = _port_range(str(p["published"]), w) if p.get("published") not in (None, "") else [0]
            out.append({"Protocol": str(p.get("protocol") or "tcp"), "TargetPort": target[0],
                        "PublishedPort": published[0], "PublishMode": str(p.get("mode") or "ingress")})
            continue
        text, _, proto = str(p).partition("/")
        parts = text.split(":")
        if len(parts) > 2:
            raise ComposeError(f"{w}: a host IP in {p!r} is not supported by swarm-mode published ports")
        targets = _port_range(parts[-1], w)
        published = _port_range(parts[0], w) if len(parts) == 2 else [0] * len(targets)
        if len(published) != len(targets):
            raise ComposeError(f"{w}: the published and target ranges of {p!r} differ in length")
        out += [{"Protocol": proto or "tcp", "TargetPort": t, "PublishedPort": pub, "PublishMode": "ingress"}
                for pub, t in zip(published, targets, strict=True)]
    for p in out:
        if p["Protocol"] not in ("tcp", "udp", "sctp"):
            raise ComposeError(f"{where}: invalid protocol {p['Protocol']!r}")
    return out


# --- the file -------------------------------------------------------------------------------------
class _Loader:
    def __init__(self, stack: str, doc: dict[str, Any], lines: dict[tuple[Any, ...], int], filename: str,
                 workdir: str, read: Callable[[str], bytes], env: Mapping[str, str]) -> None:
        self.stack, self.doc, self.lines, self.filename = stack, doc, lines, filename
        self.workdir, self.read, self.env = workdir, read, env

    def at(self, *path: Any) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return f"{self.filename}:{self.lines[path[:n]]}: {'.'.join(map(str, path))}"
        return f"{self.filename}: {'.'.join(map(str, path))}"

    def scoped(self, name: str) -> str:
        return f"{self.stack}_{name}"

    def labels(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), STACK_LABEL: self.stack}

    def path(self, p: str) -> str:
        p = posixpath.expanduser(p) if p.startswith("~") else p
        return p if p.startswith("/") else posixpath.normpath(posixpath.join(self.workdir, p))

    def top(self, key: str) -> dict[str, Any]:
        v = self.doc.get(key) or {}
        if not isinstance(v, dict):
            raise ComposeError(f"{self.at(key)}: expected a mapping")
        return {k: (c or {}) for k, c in v.items()}

    def data_objects(self, key: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """(specs to create, compose name -> Swarm name) of top-level secrets or configs."""
        specs: list[dict[str, Any]] = []
        names: dict[str, str] = {}
        for name, c in self.top(key).items():
            ext = c.get("external")
            if ext:
                names[name] = str(c.get("name") or (ext.get("name") if isinstance(ext, dict) else None) or name)
                continue
            names[name] = str(c.get("name") or self.scoped(name))
            if "file" in c:
                try:
                    raw = self.read(self.path(str(c["file"])))
                except OSError as e:
                    raise ComposeError(f"{self.at(key, name, 'file')}: {e}") from None
            elif "environment" in c:
                raw = self.env.get(str(c["environment"]), "").encode()
            elif "content" in c:
                raw = str(c["content"]).encode()
            else:
                raise ComposeError(f"{self.at(key, name)}: a {key[:-1]} needs file, environment or content "
                                   "(or external: true)")
            specs.append({"Name": names[name], "Labels": self.labels(_labels(c.get("labels"), key)),
                          "Data": base64.b64encode(raw).decode()})
        return specs, names

    def refs(self, svc: str, value: Any, names: Mapping[str, str], kind: str) -> list[dict[str, Any]]:
        out = []
        for i, r in enumerate(value or []):
            r = {"source": r} if isinstance(r, str) else r
            src = str(r.get("source") or "")
            if src not in names:
                raise ComposeError(f"{self.at('services', svc, kind + 's', i)}: undefined {kind} {src!r}")
            default_target = src if kind == "secret" else "/" + src
            f = {"Name": str(r.get("target") or default_target), "UID": str(r.get("uid") or "0"),
                 "GID": str(r.get("gid") or "0"), "Mode": int(str(r.get("mode") or "0o444"), 0)
                 if isinstance(r.get("mode"), str) else int(r.get("mode") or 0o444)}
            key = "Secret" if kind == "secret" else "Config"
            out.append({"File": f, f"{key}Name": names[src], f"{key}ID": ""})
        return out

    def mounts(self, svc: str, value: Any, volumes: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, v in enumerate(value or []):
            w = self.at("services", svc, "volumes", i)
            if isinstance(v, str):
                parts = v.split(":")
                if len(parts) == 1:
                    out.append({"Type": "volume", "Target": parts[0]})
                    continue
                src, target, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "")
                v = {"type": "bind" if src.startswith((".", "/", "~")) else "volume", "source": src,
                     "target": target, "read_only": "ro" in mode.split(",")}
            typ = str(v.get("type") or "volume")
            m: dict[str, Any] = {"Type": typ, "Target": str(v.get("target") or "")}
            if not m["Target"].startswith("/"):
                raise ComposeError(f"{w}: the target {m['Target']!r} must be an absolute path")
            src = str(v.get("source") or "")
            if typ == "bind":
                m["Source"] = self.path(src)
            elif typ == "volume" and src:
                if src not in volumes:
                    raise ComposeError(f"{w}: undefined volume {src!r}")
                top = volumes[src] or {}
                m["Source"] = str(top.get("name") or (src if top.get("external") else self.scoped(src)))
            elif typ == "tmpfs" and (v.get("tmpfs") or {}).get("size") is not None:
                m["TmpfsOptions"] = {"SizeBytes": size(v["tmpfs"]["size"], w)}
            elif typ not in ("volume", "tmpfs"):
                raise ComposeError(f"{w}: unsupported volume type {typ!r}")
            if v.get("read_only"):
                m["ReadOnly"] = True
            out.append(m)
        return out

    def update_config(self, svc: str, key: str, c: Mapping[str, Any]) -> dict[str, Any]:
        w = self.at("services", svc, "deploy", key)
        uc: dict[str, Any] = {"Parallelism": int(c.get("parallelism", 1)),
                              "FailureAction": str(c.get("failure_action") or "pause"),
                              "MaxFailureRatio": float(c.get("max_failure_ratio") or 0),
                              "Order": str(c.get("order") or "stop-first")}
        if c.get("delay") is not None:
            uc["Delay"] = duration(c["delay"], w + ".delay")
        if c.get("monitor") is not None:
            uc["Monitor"] = duration(c["monitor"], w + ".monitor")
        return uc

    def service(self, name: str, s: dict[str, Any], networks: Mapping[str, Any], secrets: Mapping[str, str],
                configs: Mapping[str, str], volumes: Mapping[str, Any], unsupported: set[str]) -> dict[str, Any]:
        def at(*p: Any) -> str:
            return self.at("services", name, *p)

        unsupported.update(k for k in s if k not in _SERVICE_KEYS and not k.startswith("x-"))
        image = s.get("image")
        if not image:
            raise ComposeError(f"{at()}: image is required (shoal does not build images)")
        deploy = s.get("deploy") or {}
        env: list[str] = []
        merged: dict[str, str | None] = {}
        for f in ([s["env_file"]] if isinstance(s.get("env_file"), str) else s.get("env_file") or []):
            path = f if isinstance(f, str) else f.get("path")
            try:
                merged.update(parse_dotenv(self.read(self.path(str(path))).decode()))
            except OSError as e:
                raise ComposeError(f"{at('env_file')}: {e}") from None
        merged.update(_env(s.get("environment"), at("environment")))
        env = [k if v is None else f"{k}={v}" for k, v in sorted(merged.items())]
        cs: dict[str, Any] = {"Image": str(image), "Labels": self.labels(_labels(s.get("labels"), at("labels")))}
        if s.get("entrypoint") is not None:
            cs["Command"] = _cmd(s["entrypoint"], at("entrypoint"))
        if s.get("command") is not None:
            cs["Args"] = _cmd(s["command"], at("command"))
        if env:
            cs["Env"] = env
        for key, field_ in (("hostname", "Hostname"), ("user", "User"), ("working_dir", "Dir"),
                            ("stop_signal", "StopSignal")):
            if s.get(key) is not None:
                cs[field_] = str(s[key])
        for key, field_ in (("read_only", "ReadOnly"), ("tty", "TTY"), ("stdin_open", "OpenStdin")):
            if s.get(key):
                cs[field_] = True
        if s.get("stop_grace_period") is not None:
            cs["StopGracePeriod"] = duration(s["stop_grace_period"], at("stop_grace_period"))
        hc = s.get("healthcheck")
        if hc:
            if hc.get("disable"):
                cs["Healthcheck"] = {"Test": ["NONE"]}
            else:
                test = hc.get("test")
                test = ["CMD-SHELL", test] if isinstance(test, str) else [str(t) for t in test or []]
                h: dict[str, Any] = {"Test": test}
                for key, field_ in (("interval", "Interval"), ("timeout", "Timeout"),
                                    ("start_period", "StartPeriod")):
                    if hc.get(key) is not None:
                        h[field_] = duration(hc[key], at("healthcheck", key))
                if hc.get("retries") is not None:
                    h["Retries"] = int(hc["retries"])
                cs["Healthcheck"] = h
        cs["Mounts"] = self.mounts(name, s.get("volumes"), volumes)
        cs["Secrets"] = self.refs(name, s.get("secrets"), secrets, "secret")
        cs["Configs"] = self.refs(name, s.get("configs"), configs, "config")
        cs = {k: v for k, v in cs.items() if v not in ([], None)}
        tt: dict[str, Any] = {"ContainerSpec": cs}
        res = deploy.get("resources") or {}
        resources: dict[str, Any] = {}
        for key, field_ in (("limits", "Limits"), ("reservations", "Reservations")):
            r = res.get(key) or {}
            q: dict[str, int] = {}
            if r.get("cpus") is not None:
                try:
                    q["NanoCPUs"] = int(float(r["cpus"]) * 1_000_000_000)
                except ValueError:
                    raise ComposeError(f"{at('deploy', 'resources', key, 'cpus')}: invalid cpus {r['cpus']!r}") from None
            if r.get("memory") is not None:
                q["MemoryBytes"] = size(r["memory"], at("deploy", "resources", key, "memory"))
            if key == "limits" and r.get("pids") is not None:
                q["Pids"] = int(r["pids"])
            if q:
                resources[field_] = q
        if resources:
            tt["Resources"] = resources
        rp = deploy.get("restart_policy")
        if rp:
            p: dict[str, Any] = {"Condition": str(rp.get("condition") or "any")}
            if p["Condition"] not in ("none", "on-failure", "any"):
                raise ComposeError(f"{at('deploy', 'restart_policy', 'condition')}: expected none, on-failure or any")
            for key, field_ in (("delay", "Delay"), ("window", "Window")):
                if rp.get(key) is not None:
                    p[field_] = duration(rp[key], at("deploy", "restart_policy", key))
            if rp.get("max_attempts") is not None:
                p["MaxAttempts"] = int(rp["max_attempts"])
            tt["RestartPolicy"] = p
        pl = deploy.get("placement") or {}
        placement: dict[str, Any] = {}
        if pl.get("constraints"):
            for i, c in enumerate(pl["constraints"]):
                try:
                    check_constraint(str(c))
                except SpecError as e:
                    raise ComposeError(f"{at('deploy', 'placement', 'constraints', i)}: {e}") from None
            placement["Constraints"] = [str(c) for c in pl["constraints"]]
        if pl.get("preferences"):
            placement["Preferences"] = [{"Spread": {"SpreadDescriptor": str(p.get("spread"))}}
                                        for p in pl["preferences"]]
        if pl.get("max_replicas_per_node"):
            placement["MaxReplicas"] = int(pl["max_replicas_per_node"])
        if placement:
            tt["Placement"] = placement
        svc_nets = s.get("networks") or ["default"]
        attach = []
        for net in (svc_nets if isinstance(svc_nets, list) else list(svc_nets)):
            if net != "default" and net not in networks:
                raise ComposeError(f"{at('networks')}: undefined network {net!r}")
            top = networks.get(net) or {}
            target = str(top.get("name") or (net if top.get("external") else self.scoped(net)))
            aliases = [name]
            if isinstance(svc_nets, dict):
                aliases += [str(a) for a in ((svc_nets.get(net) or {}).get("aliases") or [])]
            attach.append({"Target": target, "Aliases": aliases})
        tt["Networks"] = attach
        mode = str(deploy.get("mode") or "replicated")
        if mode == "replicated":
            spec_mode: dict[str, Any] = {"Replicated": {"Replicas": int(deploy.get("replicas", 1))}}
        elif mode == "global":
            spec_mode = {"Global": {}}
        else:
            raise ComposeError(f"{at('deploy', 'mode')}: expected replicated or global, got {mode!r}")
        spec: dict[str, Any] = {
            "Name": self.scoped(name),
            "Labels": self.labels({**_labels(deploy.get("labels"), at("deploy", "labels")), IMAGE_LABEL: str(image)}),
            "TaskTemplate": tt, "Mode": spec_mode,
            "EndpointSpec": {"Mode": str(deploy.get("endpoint_mode") or "vip"),
                             "Ports": ports(s.get("ports"), at("ports"))}}
        for key, field_ in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
            if deploy.get(key):
                spec[field_] = self.update_config(name, key, deploy[key])
        return spec


def load(text: str, stack: str, *, env: Mapping[str, str] | None = None, filename: str = "docker-compose.yml",
         workdir: str = ".", read: Callable[[str], bytes] | None = None) -> Stack:
    """The Swarm specs of a Compose file for the stack ``stack``; ``read`` reads files it names (secrets,
    configs, env files), ``env`` is the environment with ``.env``'s values under it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ComposeError(f"{filename}{line}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(doc, dict) or node is None:
        raise ComposeError(f"{filename}: a Compose file is a mapping with a top-level 'services' key")
    lines = _lines(node)
    unknown = sorted(k for k in doc if k not in _TOP and not str(k).startswith("x-"))
    if unknown:
        raise ComposeError(f"{filename}:{lines.get((unknown[0],), 0)}: unknown top-level key(s): "
                           f"{', '.join(map(str, unknown))}")
    doc = interpolate({k: v for k, v in doc.items() if not str(k).startswith("x-")}, env or {})

    def no_read(path: str) -> bytes:
        raise OSError(f"cannot read {path}")

    loader = _Loader(stack, doc, lines, filename, workdir, read or no_read, env or {})
    services = loader.top("services")
    if not services:
        raise ComposeError(f"{filename}: no services")
    out = Stack(stack)
    networks = loader.top("networks")
    used = {n for s in services.values() for n in (s.get("networks") or ["default"])}
    for net in sorted(used | set(networks)):
        c = networks.get(net) or {}
        if c.get("external"):
            out.external_networks.append(str(c.get("name") or net))
            continue
        if net not in used:
            continue
        driver = str(c.get("driver") or "overlay")
        out.networks.append({"Name": str(c.get("name") or loader.scoped(net)), "Driver": driver,
                             "Attachable": bool(c.get("attachable")), "Internal": bool(c.get("internal")),
                             "Labels": loader.labels(_labels(c.get("labels"), f"networks.{net}.labels")),
                             "Options": {str(k): str(v) for k, v in (c.get("driver_opts") or {}).items()}})
    out.secrets, secret_names = loader.data_objects("secrets")
    out.configs, config_names = loader.data_objects("configs")
    volumes = loader.top("volumes")
    unsupported: set[str] = set()
    for name, s in services.items():
        if not isinstance(s, dict):
            raise ComposeError(f"{loader.at('services', name)}: expected a mapping")
        out.services.append(loader.service(name, s, networks, secret_names, config_names, volumes, unsupported))
    if unsupported:
        out.warnings.append(f"Ignoring unsupported options: {', '.join(sorted(unsupported))}")
    return out

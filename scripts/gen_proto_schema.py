"""Generate ``shoal/api/proto_schema_gen/`` from upstream Kubernetes sources, so the
protobuf field tables shoal decodes with cannot drift from Kubernetes.

Why two inputs per package. ``generated.proto`` gives each message's field
numbers, wire types, ``repeated`` and ``map<>``, but not what the decoder must
produce: the JSON object. That is in the Go structs the .proto was generated
from (``types.go`` beside it, same commit): the JSON name (``json:"..."``),
whether a field is embedded inline (``json:",inline"``), and whether a zero
scalar is meaningful (a pointer, or no ``omitempty``: gogo writes every
non-pointer scalar set or not, so a zero there is dropped unless JSON would
show it; ``KEEP_ZERO`` lists the few fields where shoal needs the zero anyway).
Each proto field is matched to its Go field by field number; the Go files read
are every hand-written ``.go`` file of the package's directory.

Which messages become what:

* messages with their own JSON form (a ``MarshalJSON`` method in Go): the
  decoder knows six of them natively (Quantity, IntOrString, Time, MicroTime,
  FieldsV1, RawExtension) and their wire shapes are checked here against what
  ``shoal/api/protobuf.py`` hard-codes, as is the ``runtime.Unknown`` envelope;
  fields of any other such type (``meta/v1 Duration``) are left out and listed
  in the module docstring;
* messages for a Go ``[]string`` type (``ExtraValue``, ``Verbs``) become the
  ``sl`` scalar (a JSON list of strings);
* a field whose type lives in an alpha or beta package (batch/v1 refers to
  scheduling/v1alpha3) is left out and listed: shoal serves no such API;
* every other message of a selected package is written out, one compact spec
  string per message (the format ``shoal/api/proto_schema.py`` compiles).
  A type in any other package that is not selected is an error.

Output: one module per package (``core_v1.py``, ``apps_v1.py``, ...) plus
``__init__.py`` with the index ``PACKAGES`` and ``GROUP_VERSIONS``; shoal
compiles a package's tables on first use. The script only reads the proto
subset go-to-protobuf writes (``syntax``, ``package``, ``import``, ``option``,
``message`` without nesting, ``optional``/``repeated`` fields, ``map<string,
T>``); anything else is an error, so a change upstream is noticed, not guessed.

Re-run (the sources need not be in the tree; a bare git directory works)::

    python scripts/gen_proto_schema.py \\
        --api /path/to/kubernetes/api --apimachinery /path/to/kubernetes/apimachinery

``--api``/``--apimachinery`` are git repositories (bare or not; files are read
from ``--api-rev``/``--apimachinery-rev``, default HEAD) or plain directories
with ``--api-commit``/``--apimachinery-commit`` naming what they hold.
``--check`` compares instead of writing and exits 1 on a difference. To add a
group, add its directory to ``API_PACKAGES``, re-run, and add its kinds to
``_SERVED`` in ``shoal/api/proto_schema.py``. ``tests/api/test_proto_schema_gen.py``
regenerates the tables at the commits their header names when the two
repositories are on the machine (``SHOAL_K8S_API_REPO``,
``SHOAL_K8S_APIMACHINERY_REPO``) and fails if the committed files differ.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

API_PACKAGES = (
    "core/v1",
    "apps/v1",
    "batch/v1",
    "coordination/v1",
    "discovery/v1",
    "scheduling/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "policy/v1",
    "rbac/v1",
    "storage/v1",
    "networking/v1",
    "authentication/v1",
    "certificates/v1",
    "events/v1",
    "authorization/v1",
)
MACHINERY_PACKAGES = ("pkg/apis/meta/v1",)
# Read only to check the wire shapes of the messages the decoder knows natively.
MACHINERY_WELL_KNOWN = ("pkg/runtime", "pkg/util/intstr", "pkg/api/resource")

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_RUNTIME = "k8s.io.apimachinery.pkg.runtime"
_TIME_SHAPE = {1: ("seconds", "int64"), 2: ("nanos", "int32")}
# Message -> (scalar code in proto_schema, the wire shape protobuf.py hard-codes).
WELL_KNOWN: dict[str, tuple[str, dict[int, tuple[str, str]]]] = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": ("q", {1: ("string", "string")}),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": (
        "ios",
        {1: ("type", "int64"), 2: ("intVal", "int32"), 3: ("strVal", "string")},
    ),
    f"{_META}.Time": ("t", _TIME_SHAPE),
    f"{_META}.MicroTime": ("mt", _TIME_SHAPE),
    f"{_META}.FieldsV1": ("f", {1: ("Raw", "bytes")}),
    f"{_RUNTIME}.RawExtension": ("raw", {1: ("raw", "bytes")}),
}
# The envelope protobuf.py reads by hand.
ENVELOPE: dict[str, dict[int, tuple[str, str]]] = {
    f"{_RUNTIME}.Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "string"),
        4: ("contentType", "string"),
    },
    f"{_RUNTIME}.TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
}
# Zeros kept although Go's JSON would omit them (omitempty), each for a reason in shoal.
KEEP_ZERO: dict[str, str] = {
    "autoscaling.v1.ScaleSpec.replicas": (
        "shoal's scale subresource reads a missing spec.replicas as invalid, not as 0;"
        " gogo always writes the field, so scaling to zero must keep it"
    ),
}
SCALAR_CODES = {"string": "s", "int32": "i", "int64": "i", "bool": "b", "bytes": "y"}
# Scalars whose unset zero gogo still writes (proto_schema's "!" only matters for these).
DROPPABLE_CODES = frozenset({"s", "i", "b", "y"})
OUTPUT = Path(__file__).resolve().parent.parent / "shoal" / "api" / "proto_schema_gen"
LINE = 100


class GenError(ValueError):
    """The sources say something this generator does not understand."""


# --- the proto2 subset -----------------------------------------------------------


@dataclass(frozen=True)
class ProtoField:
    name: str
    number: int
    type: str  # as written: "string", "LocalObjectReference", ".k8s.io...ObjectMeta"
    label: str  # "optional" | "repeated" | "map" (then type is the value type)


@dataclass
class ProtoFile:
    package: str
    imports: list[str] = field(default_factory=list)
    messages: dict[str, list[ProtoField]] = field(default_factory=dict)


_TYPE = r"\.?[A-Za-z_][\w.]*"
_FIELD = re.compile(rf"(optional|repeated)\s+({_TYPE})\s+(\w+)\s*=\s*(\d+)\s*;")
_MAP = re.compile(rf"map\s*<\s*(\w+)\s*,\s*({_TYPE})\s*>\s+(\w+)\s*=\s*(\d+)\s*;")
_STATEMENTS = {
    "syntax": re.compile(r'syntax\s*=\s*"proto2"\s*;'),
    "package": re.compile(r"package\s+([\w.]+)\s*;"),
    "import": re.compile(r'import\s+"([^"]+)"\s*;'),
    "option": re.compile(r'option\s+\w+\s*=\s*"[^"]*"\s*;'),
}


def _strip_comments(text: str) -> list[tuple[int, str]]:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("//", 1)[0].strip()
        if line:
            lines.append((number, line))
    return lines


def parse_proto(text: str) -> ProtoFile:
    """Parse the go-to-protobuf subset of proto2; raise GenError on anything else."""
    proto = ProtoFile(package="")
    current: list[ProtoField] | None = None
    current_name = ""
    for number, line in _strip_comments(text):
        where = f"line {number}: {line!r}"
        if current is None:
            opened = re.fullmatch(r"message\s+(\w+)\s*\{", line)
            if opened:
                current_name = opened.group(1)
                if current_name in proto.messages:
                    raise GenError(f"{where}: message {current_name} defined twice")
                current = proto.messages[current_name] = []
                continue
            for kind, pattern in _STATEMENTS.items():
                match = pattern.fullmatch(line)
                if match and kind == "package":
                    proto.package = match.group(1)
                elif match and kind == "import":
                    proto.imports.append(match.group(1))
                if match:
                    break
            else:
                raise GenError(f"{where}: not part of the proto subset this script reads")
            continue
        if line == "}":
            current = None
            continue
        plain, mapped = _FIELD.fullmatch(line), _MAP.fullmatch(line)
        if plain:
            label, type_, name, num = plain.groups()
        elif mapped:
            key_type, type_, name, num = mapped.groups()
            if key_type != "string":
                raise GenError(f"{where}: map keys other than string are not supported")
            label = "map"
        else:
            raise GenError(f"{where}: not a field this script reads (nested message? oneof?)")
        if any(f.number == int(num) for f in current):
            raise GenError(f"{where}: field number {num} used twice in {current_name}")
        current.append(ProtoField(name, int(num), type_, label))
    if current is not None:
        raise GenError(f"message {current_name} is not closed")
    if not proto.package:
        raise GenError("no package statement")
    return proto


# --- the Go structs behind it --------------------------------------------------------


@dataclass(frozen=True)
class GoField:
    json_name: str  # "" for an embedded struct inlined into its parent
    omitempty: bool
    pointer: bool
    embedded: bool


@dataclass
class GoPackage:
    structs: dict[str, dict[int, GoField]] = field(default_factory=dict)  # by proto number
    string_lists: set[str] = field(default_factory=set)  # type X []string
    custom_json: set[str] = field(default_factory=set)  # types with a MarshalJSON method
    # type X alias.Y: X -> (the proto package of alias's import path, Y)
    defined_as: dict[str, tuple[str, str]] = field(default_factory=dict)


_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
_GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?(\*?[\w.\[\]*]+)\s+`([^`]*)`\s*(?://.*)?$")
_TAG = re.compile(r'(\w+):"([^"]*)"')


def parse_go(texts: Iterable[str]) -> GoPackage:
    """Read struct fields with a protobuf tag, ``[]string`` types and MarshalJSON owners."""
    package = GoPackage()
    for text in texts:
        package.string_lists.update(re.findall(r"^type (\w+) \[\]string\s*$", text, re.M))
        package.custom_json.update(re.findall(r"^func \(\w+ \*?(\w+)\) MarshalJSON\(", text, re.M))
        imports = dict(re.findall(r'^\s*(\w+)\s+"([\w./-]+)"\s*$', text, re.M))
        for name, alias, other in re.findall(r"^type (\w+) (\w+)\.(\w+)\s*$", text, re.M):
            if alias in imports:
                package.defined_as[name] = (imports[alias].replace("/", "."), other)
        for name in re.findall(r"^type (\w+) struct\s*\{\s*\}", text, re.M):
            package.structs.setdefault(name, {})
        for name, body in _STRUCT.findall(text):
            fields = package.structs.setdefault(name, {})
            for line in body.splitlines():
                match = _GO_FIELD.match(line)
                if not match:
                    continue
                go_name, go_type, tag_text = match.groups()
                tags = dict(_TAG.findall(tag_text))
                if tags.get("protobuf", "-") == "-":
                    continue
                number = int(tags["protobuf"].split(",")[1])
                json_name, *options = tags.get("json", "").split(",")
                fields[number] = GoField(
                    json_name=json_name,
                    omitempty=bool({"omitempty", "omitzero"} & set(options)),
                    pointer=go_type.startswith("*"),
                    embedded=go_name is None,
                )
    return package


# --- turning both into spec strings --------------------------------------------------


@dataclass
class Package:
    """One selected package: its key (``core.v1``), proto and Go views."""

    key: str
    proto: ProtoFile
    go: GoPackage


@dataclass
class Emitted:
    key: str
    messages: dict[str, str]
    imports: list[str]
    left_out: list[str]


def package_key(directory: str) -> str:
    """``core/v1`` -> ``core.v1``; ``pkg/apis/meta/v1`` -> ``meta.v1``."""
    return ".".join(directory.removeprefix("pkg/apis/").split("/"))


def _resolve(type_: str, package: str) -> str:
    return type_[1:] if type_.startswith(".") else f"{package}.{type_}"


def _split(qualified: str) -> tuple[str, str]:
    package, _, name = qualified.rpartition(".")
    return package, name


_PRERELEASE = re.compile(r"\.v\d+(alpha|beta)\d+$")


class _Resolver:
    """What a proto type becomes in a spec: a scalar code, a message reference, or "" (left out)."""

    def __init__(self, packages: list[Package]) -> None:
        self.keys = {p.proto.package: p.key for p in packages}
        self.go = {p.proto.package: p.go for p in packages}
        self.messages = {p.proto.package: set(p.proto.messages) for p in packages}

    def special(self, qualified: str) -> str | None:
        """The scalar code a message is decoded as, "" to leave it out, None if ordinary."""
        if qualified in WELL_KNOWN:
            return WELL_KNOWN[qualified][0]
        package, name = _split(qualified)
        go = self.go.get(package)
        if go is not None and name in go.string_lists:
            return "sl"
        if go is not None and name in go.custom_json:
            return ""
        return None

    def struct(self, package: str, name: str) -> dict[int, GoField] | None:
        """The Go struct behind a message, following ``type X otherpkg.Y``."""
        go = self.go[package]
        if name in go.defined_as:
            other, other_name = go.defined_as[name]
            return self.go[other].structs.get(other_name) if other in self.go else None
        return go.structs.get(name)

    def type_code(self, type_: str, here: str) -> str:
        if type_ in SCALAR_CODES:
            return SCALAR_CODES[type_]
        qualified = _resolve(type_, here)
        special = self.special(qualified)
        if special is not None:
            return special
        package, name = _split(qualified)
        if package not in self.messages and _PRERELEASE.search(package):
            return ""  # an alpha/beta API's type in a GA message: shoal serves none of them
        if package not in self.messages:
            raise GenError(f"type {qualified} is in no selected package (add it to the list?)")
        if name not in self.messages[package]:
            raise GenError(f"no message {name} in {package}")
        return name if package == here else f"{self.keys[package]}.{name}"


def _is_message(code: str) -> bool:
    """Whether a spec type names a message (``Pod``, ``meta.v1.ObjectMeta``), not a scalar."""
    return code[:1].isupper() or "." in code


def _token(
    proto_field: ProtoField, go_field: GoField, code: str, where: str, force_zero: bool
) -> str:
    """One ``json:number[:type]`` token (``force_zero``: keep a zero Go's JSON omits)."""
    if go_field.embedded and go_field.json_name == "":  # inline
        if proto_field.label != "optional" or not _is_message(code):
            raise GenError(f"{where}: an inline field must be a single message")
        name, prefix = proto_field.name, "^"
    elif not go_field.json_name:
        raise GenError(f"{where}: a non-embedded field without a JSON name")
    else:
        name = go_field.json_name
        prefix = {"repeated": "*", "map": "%"}.get(proto_field.label, "")
    keep_zero = (
        not prefix
        and code in DROPPABLE_CODES
        and (go_field.pointer or not go_field.omitempty or force_zero)
    )
    type_part = "" if (code == "s" and not prefix and not keep_zero) else f":{prefix}{code}"
    return f"{name}:{proto_field.number}{type_part}{'!' if keep_zero else ''}"


def emit_package(
    package: Package, resolver: _Resolver, keep_zero: frozenset[str] = frozenset()
) -> Emitted:
    """Spec strings for every ordinary message of one package."""
    here = package.proto.package
    out = Emitted(package.key, {}, [], [])
    for name, fields in package.proto.messages.items():
        if resolver.special(f"{here}.{name}") is not None:
            continue
        go_fields = resolver.struct(here, name)
        if go_fields is None:
            raise GenError(f"{package.key}.{name}: no Go struct of that name")
        tokens = []
        for proto_field in fields:
            where = f"{package.key}.{name}.{proto_field.name}"
            go_field = go_fields.get(proto_field.number)
            if go_field is None:
                raise GenError(f"{where}: no Go field with protobuf number {proto_field.number}")
            if go_field.json_name == "-":
                out.left_out.append(f"{name}.{proto_field.name} (not in JSON)")
                continue
            code = resolver.type_code(proto_field.type, here)
            if not code:
                out.left_out.append(f"{name}.{proto_field.name} ({proto_field.type.lstrip('.')})")
                continue
            if "." in code and code.rpartition(".")[0] not in out.imports:
                out.imports.append(code.rpartition(".")[0])
            tokens.append(_token(proto_field, go_field, code, where, where in keep_zero))
        out.messages[name] = " ".join(tokens)
    out.imports.sort()
    return out


def check_shapes(protos: Iterable[ProtoFile]) -> None:
    """Fail if a message the decoder reads by hand has changed shape upstream."""
    found: dict[str, dict[int, tuple[str, str]]] = {}
    for proto in protos:
        for name, fields in proto.messages.items():
            found[f"{proto.package}.{name}"] = {f.number: (f.name, f.type) for f in fields}
    expected = {name: shape for name, (_, shape) in WELL_KNOWN.items()} | ENVELOPE
    for name, shape in expected.items():
        if found.get(name) != shape:
            raise GenError(
                f"{name} is {found.get(name)} upstream; shoal/api/protobuf.py reads {shape}"
            )


# --- writing Python ------------------------------------------------------------------


def _string_literal(text: str, indent: int) -> list[str]:
    """A string as one literal, or several implicitly joined, each line within LINE."""
    width = LINE - indent - 3
    if len(text) + indent + 3 <= LINE:
        return [f'"{text}"']
    parts: list[str] = []
    current = ""
    for token in text.split(" "):
        piece = f" {token}" if current else token
        if current and len(current) + len(piece) > width:
            parts.append(current)
            current = f" {token}"
        else:
            current += piece
    parts.append(current)
    return [f'"{part}"' for part in parts]


def _header(what: str, commits: dict[str, str]) -> str:
    sources = "\nand ".join(f"kubernetes/{repo} {commit}" for repo, commit in commits.items())
    return (
        f'"""{what}\n\n'
        f"Generated by scripts/gen_proto_schema.py from {sources}; do not edit.\n"
        "The spec format is described in ``shoal/api/proto_schema.py``.\n"
    )


def render_package(emitted: Emitted, directory: str, commits: dict[str, str]) -> str:
    lines = [_header(f"Protobuf messages of ``{directory}`` as field specs.", commits).rstrip()]
    if emitted.left_out:
        lines.append("\nLeft out (their types have no decoder here; skipped like unknown fields):")
        lines.extend(f"{item}," for item in emitted.left_out[:-1])
        lines.append(f"{emitted.left_out[-1]}.")
    lines += ['"""', "", "from __future__ import annotations", ""]
    lines.append(f'PACKAGE = "{emitted.key}"')
    imports = ", ".join(f'"{key}"' for key in emitted.imports)
    comma = "," if len(emitted.imports) == 1 else ""
    lines.append(f"IMPORTS: tuple[str, ...] = ({imports}{comma})")
    lines += ["", "MESSAGES: dict[str, str] = {"]
    for name in sorted(emitted.messages):
        literal = _string_literal(emitted.messages[name], 8)
        head = f'    "{name}": '
        if len(literal) == 1 and len(head + literal[0]) + 1 <= LINE:
            lines.append(f"{head}{literal[0]},")
        else:
            lines.append(f"{head}(")
            lines.extend(f"        {part}" for part in literal)
            lines.append("    ),")
    lines += ["}", ""]
    return "\n".join(lines)


def render_index(
    modules: dict[str, str], group_versions: dict[str, str], commits: dict[str, str]
) -> str:
    what = "The generated protobuf tables, one module per API package, compiled on first use."
    lines = [_header(what, commits).rstrip(), '"""', "", "from __future__ import annotations", ""]
    lines.append("# package key -> module of this package")
    lines.append("PACKAGES: dict[str, str] = {")
    lines.extend(f'    "{key}": "{module}",' for key, module in modules.items())
    lines += ["}", "", "# apiVersion -> package key (from each package's GroupName)"]
    lines.append("GROUP_VERSIONS: dict[str, str] = {")
    lines.extend(f'    "{gv}": "{key}",' for gv, key in group_versions.items())
    lines += ["}", ""]
    return "\n".join(lines)


# --- reading the sources ----------------------------------------------------------------


class Source(Protocol):
    commit: str

    def files(self, directory: str) -> list[str]: ...

    def read(self, path: str) -> str: ...


class GitSource:
    """Files of one revision of a git repository, bare or not."""

    def __init__(self, repo: Path, rev: str) -> None:
        self.repo = repo
        self.commit = self._git("rev-parse", f"{rev}^{{commit}}").strip()

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True
        ).stdout

    def files(self, directory: str) -> list[str]:
        listing = self._git("ls-tree", "--name-only", self.commit, f"{directory}/")
        return [line.rsplit("/", 1)[-1] for line in listing.splitlines()]

    def read(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")


class DirSource:
    """Files of a plain directory tree whose commit the caller names."""

    def __init__(self, root: Path, commit: str) -> None:
        self.root, self.commit = root, commit

    def files(self, directory: str) -> list[str]:
        return sorted(p.name for p in (self.root / directory).iterdir() if p.is_file())

    def read(self, path: str) -> str:
        return (self.root / path).read_text()


def open_source(path: Path, rev: str, commit: str | None) -> Source:
    if commit:
        return DirSource(path, commit)
    try:
        return GitSource(path, rev)
    except subprocess.CalledProcessError as err:
        raise GenError(f"{path} is not a git repository; name its commit with --*-commit") from err


def _go_files(names: Iterable[str]) -> list[str]:
    skip = ("_test.go", "generated.pb.go", "_generated.go")
    return [
        n for n in names if n.endswith(".go") and not n.endswith(skip) and not n.startswith("zz_")
    ]


def read_package(source: Source, directory: str) -> Package:
    proto = parse_proto(source.read(f"{directory}/generated.proto"))
    go = parse_go(source.read(f"{directory}/{name}") for name in _go_files(source.files(directory)))
    return Package(package_key(directory), proto, go)


def group_version(source: Source, directory: str) -> str:
    match = re.search(r'const GroupName = "([^"]*)"', source.read(f"{directory}/register.go"))
    if match is None:
        raise GenError(f"{directory}/register.go names no GroupName")
    version = directory.rsplit("/", 1)[-1]
    return f"{match.group(1)}/{version}" if match.group(1) else version


@dataclass(frozen=True)
class Selection:
    """What to generate: the packages read from each repository, and the zero overrides."""

    api: tuple[str, ...] = API_PACKAGES
    machinery: tuple[str, ...] = MACHINERY_PACKAGES
    well_known: tuple[str, ...] = MACHINERY_WELL_KNOWN
    keep_zero: frozenset[str] = frozenset(KEEP_ZERO)


def generate(api: Source, machinery: Source, selection: Selection | None = None) -> dict[str, str]:
    """File name -> text of every generated module."""
    selection = selection or Selection()
    commits = {"api": api.commit, "apimachinery": machinery.commit}
    selected = [(d, read_package(machinery, d)) for d in selection.machinery]
    selected += [(d, read_package(api, d)) for d in selection.api]
    packages = [p for _, p in selected]
    check_shapes(
        [p.proto for p in packages]
        + [parse_proto(machinery.read(f"{d}/generated.proto")) for d in selection.well_known]
    )
    fields = {
        f"{p.key}.{name}.{f.name}"
        for p in packages
        for name, fs in p.proto.messages.items()
        for f in fs
    }
    if stale := sorted(selection.keep_zero - fields):
        raise GenError(f"KEEP_ZERO names fields that do not exist: {', '.join(stale)}")
    resolver = _Resolver(packages)
    out: dict[str, str] = {}
    modules: dict[str, str] = {}
    for directory, package in selected:
        module = package.key.replace(".", "_")
        modules[package.key] = module
        emitted = emit_package(package, resolver, selection.keep_zero)
        out[f"{module}.py"] = render_package(emitted, directory, commits)
    group_versions = {group_version(api, d): package_key(d) for d in selection.api}
    out["__init__.py"] = render_index(modules, group_versions, commits)
    return out


def main(argv: list[str] | None = None, selection: Selection | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for repo in ("api", "apimachinery"):
        parser.add_argument(f"--{repo}", type=Path, required=True, help=f"kubernetes/{repo}")
        parser.add_argument(f"--{repo}-rev", default="HEAD", help="revision to read (git)")
        parser.add_argument(f"--{repo}-commit", help="the commit a plain directory holds")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    try:
        files = generate(
            open_source(args.api, args.api_rev, args.api_commit),
            open_source(args.apimachinery, args.apimachinery_rev, args.apimachinery_commit),
            selection,
        )
    except GenError as err:
        print(f"gen_proto_schema: {err}", file=sys.stderr)
        return 2
    stale = [name for name, text in files.items() if _read(args.out / name) != text]
    extra = sorted(p.name for p in args.out.glob("*.py") if p.name not in files)
    if args.check:
        for name in stale + extra:
            print(f"out of date: {args.out / name}", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(files[name])
    for name in extra:
        (args.out / name).unlink()
    print(f"wrote {len(stale)} of {len(files)} modules to {args.out}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())

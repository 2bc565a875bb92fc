"""Compose files into Swarm specs, as ``docker stack deploy`` reads them: table tests, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.formats.compose import (
    ComposeError,
    duration,
    interpolate,
    load,
    parse_dotenv,
    ports,
    size,
)

FILES = {"/w/pw.txt": b"s3cret", "/w/app.conf": b"x=1\n", "/w/web.env": b"FROM_FILE=1\nA=file\n"}


def read(path: str) -> bytes:
    if path not in FILES:
        raise OSError(f"no such file: {path}")
    return FILES[path]


def stack(text: str, env: dict[str, str] | None = None) -> Any:
    return load(text, "st", env=env or {}, filename="c.yml", workdir="/w", read=read)


FULL = """
version: "3.9"
x-common: &common
  labels: {team: a}
services:
  web:
    <<: *common
    image: nginx:${TAG:-1}
    entrypoint: /bin/sh -c
    command: ["echo", "hi"]
    environment:
      A: env
      EMPTY:
    env_file: web.env
    ports: ["5000:80", {target: 443, published: 5443, protocol: tcp, mode: host}, "7000-7001:8000-8001/udp"]
    networks:
      front: {aliases: [www]}
    secrets: [pw, {source: pw, target: /etc/pw, mode: 0400}]
    configs: [app]
    volumes: ["data:/data", "./src:/src:ro", {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]
    healthcheck: {test: "curl -f localhost", interval: 10s, timeout: 2s, retries: 5, start_period: 1m30s}
    stop_grace_period: 20s
    read_only: true
    depends_on: [db]
    build: .
    restart: always
    deploy:
      replicas: 3
      labels: {tier: web}
      resources:
        limits: {cpus: "0.5", memory: 64M}
        reservations: {memory: 32M}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3}
      update_config: {parallelism: 2, delay: 10s, order: start-first, failure_action: rollback, monitor: 30s}
      placement:
        constraints: ["node.role == manager"]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
  db:
    image: postgres
    deploy: {mode: global, endpoint_mode: dnsrr}
networks:
  front:
  outside: {external: true}
volumes:
  data:
secrets:
  pw: {file: ./pw.txt}
configs:
  app: {file: ./app.conf}
"""


def test_full_file() -> None:
    st = stack(FULL, {"TAG": "2"})
    assert st.warnings == ["Ignoring unsupported options: build, restart"]
    assert [n["Name"] for n in st.networks] == ["st_default", "st_front"]
    assert st.external_networks == ["outside"]
    assert st.secrets == [{"Name": "st_pw", "Labels": {"com.docker.stack.namespace": "st"}, "Data": "czNjcmV0"}]
    assert st.configs[0]["Name"] == "st_app"
    web = next(s for s in st.services if s["Name"] == "st_web")
    assert web["Labels"] == {"tier": "web", "com.docker.stack.image": "nginx:2", "com.docker.stack.namespace": "st"}
    cs = web["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "nginx:2" and cs["Command"] == ["/bin/sh", "-c"] and cs["Args"] == ["echo", "hi"]
    assert cs["Env"] == ["A=env", "EMPTY", "FROM_FILE=1"]
    assert cs["Labels"] == {"team": "a", "com.docker.stack.namespace": "st"}
    assert cs["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 10 * 10**9,
                                 "Timeout": 2 * 10**9, "StartPeriod": 90 * 10**9, "Retries": 5}
    assert cs["StopGracePeriod"] == 20 * 10**9 and cs["ReadOnly"] is True
    assert cs["Mounts"] == [{"Type": "volume", "Target": "/data", "Source": "st_data"},
                            {"Type": "bind", "Target": "/src", "Source": "/w/src", "ReadOnly": True},
                            {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1 << 20}}]
    assert cs["Secrets"] == [
        {"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444}, "SecretName": "st_pw", "SecretID": ""},
        {"File": {"Name": "/etc/pw", "UID": "0", "GID": "0", "Mode": 0o400}, "SecretName": "st_pw", "SecretID": ""}]
    assert cs["Configs"][0]["File"]["Name"] == "/app"
    tt = web["TaskTemplate"]
    assert tt["Resources"] == {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20},
                               "Reservations": {"MemoryBytes": 32 << 20}}
    assert tt["RestartPolicy"] == {"Condition": "on-failure", "Delay": 5 * 10**9, "MaxAttempts": 3}
    assert tt["Placement"] == {"Constraints": ["node.role == manager"], "MaxReplicas": 2,
                               "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}
    assert tt["Networks"] == [{"Target": "st_front", "Aliases": ["web", "www"]}]
    assert web["Mode"] == {"Replicated": {"Replicas": 3}}
    assert web["UpdateConfig"] == {"Parallelism": 2, "FailureAction": "rollback", "MaxFailureRatio": 0.0,
                                   "Order": "start-first", "Delay": 10 * 10**9, "Monitor": 30 * 10**9}
    assert web["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 5000, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 5443, "PublishMode": "host"},
        {"Protocol": "udp", "TargetPort": 8000, "PublishedPort": 7000, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 8001, "PublishedPort": 7001, "PublishMode": "ingress"}]
    db = next(s for s in st.services if s["Name"] == "st_db")
    assert db["Mode"] == {"Global": {}} and db["EndpointSpec"] == {"Mode": "dnsrr", "Ports": []}
    assert db["TaskTemplate"]["Networks"] == [{"Target": "st_default", "Aliases": ["db"]}]


def test_the_translation_accepts_what_compose_makes() -> None:
    from shoal.formats.swarm.container import SecretRef
    from shoal.formats.swarm.service import to_objects

    st = stack(FULL)
    refs = {"secrets": {"st_pw": SecretRef("i", "st_pw", "pw", "data")},
            "configs": {"st_app": SecretRef("j", "st_app", "app", "data")}}
    kinds = {s["Name"]: to_objects(s, **refs).kind for s in st.services}
    assert kinds == {"st_web": "Deployment", "st_db": "DaemonSet"}


@pytest.mark.parametrize(("text", "env", "want"), [
    ("${A}", {"A": "1"}, "1"), ("$A-x", {"A": "1"}, "1-x"), ("${A:-d}", {}, "d"), ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""), ("${A-d}", {}, "d"), ("$$A", {"A": "1"}, "$A"), ("${A}", {}, ""),
])
def test_interpolation(text: str, env: dict[str, str], want: str) -> None:
    assert interpolate({"k": text}, env) == {"k": want}


@pytest.mark.parametrize(("text", "env"), [("${A:?needed}", {}), ("${A?needed}", {}), ("${A B}", {})])
def test_interpolation_errors(text: str, env: dict[str, str]) -> None:
    with pytest.raises(ComposeError):
        interpolate({"k": text}, env)


def test_dotenv() -> None:
    assert parse_dotenv("# c\nA=1\nexport B='two'\nC=\"3\"\n\n") == {"A": "1", "B": "two", "C": "3"}


@pytest.mark.parametrize(("value", "ns"), [("10s", 10**10), ("1m30s", 9 * 10**10), ("500ms", 5 * 10**8),
                                           ("1.5h", 5400 * 10**9), (2, 2 * 10**9)])
def test_durations(value: Any, ns: int) -> None:
    assert duration(value, "x") == ns


@pytest.mark.parametrize(("value", "n"), [("64M", 64 << 20), ("1g", 1 << 30), ("512k", 512 << 10), (100, 100),
                                          ("1.5G", 3 << 29), ("10b", 10)])
def test_sizes(value: Any, n: int) -> None:
    assert size(value, "x") == n


def test_port_forms() -> None:
    assert ports(["80"], "p") == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 0, "PublishMode": "ingress"}]
    for bad in (["70000:80"], ["80:0"], ["1.2.3.4:80:80"], ["5000-5001:80"], ["a:b"], ["80/icmp"]):
        with pytest.raises(ComposeError):
            ports(bad, "p")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("services:\n  web:\n    image: [unclosed\n", None, "invalid YAML"),
    ("services:\n  web: {image: x}\nvolumez: {}\n", 3, r"unknown top-level key\(s\): volumez"),
    ("services:\n  web:\n    image: x\n    stop_grace_period: ten seconds\n", 4, "invalid duration"),
    ("services:\n  web:\n    image: x\n    ports: ['99999:80']\n", 4, "out of range"),
    ("services:\n  web:\n    image: x\n    deploy:\n      placement:\n        constraints: ['node.labels.a ~= b']\n",
     6, "invalid constraint"),
    ("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits: {memory: lots}\n", 6,
     "invalid size"),
    ("services:\n  web:\n    image: x\n    secrets: [nope]\n", 4, "undefined secret"),
    ("services:\n  web:\n    image: x\n    networks: [nope]\n", 4, "undefined network"),
    ("services:\n  web:\n    image: x\n    volumes: ['nope:/x']\n", 4, "undefined volume"),
    ("services:\n  web:\n    command: x\n", 2, "image is required"),
    ("services:\n  web:\n    image: x\n    deploy: {mode: sometimes}\n", 4, "replicated or global"),
    ("services:\n  web: {image: x}\nsecrets:\n  s: {file: ./missing}\n", 4, "no such file"),
    ("[1, 2]\n", None, "mapping"),
    ("services: {}\n", None, "no services"),
])
def test_bad_files(text: str, line: int | None, message: str) -> None:
    with pytest.raises(ComposeError, match=message) as e:
        stack(text)
    if line is not None:
        assert f"c.yml:{line}" in str(e.value)

"""Fixtures for end-to-end tests: a fresh namespace per test on the shared server.

Every test gets its own namespace so tests can run in any order against the one
session server. There is no namespace controller yet, so cleanup does its job:
delete every namespaced collection in the namespace, delete the namespace, and
clear its ``spec.finalizers`` through the ``finalize`` subresource.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer

MANIFESTS = Path(__file__).parent / "manifests"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def namespaced_collections(srv: RunningServer) -> list[str]:
    """API paths (with ``{ns}``) of every namespaced resource that supports deletecollection."""
    s = srv.session()
    gvs = ["/api/v1"]
    for g in s.get(srv.url + "/apis").json()["groups"]:
        gvs.append("/apis/" + g["preferredVersion"]["groupVersion"])
    paths = []
    for gv in gvs:
        for r in s.get(srv.url + gv).json()["resources"]:
            if r["namespaced"] and "/" not in r["name"] and "deletecollection" in r["verbs"]:
                paths.append(f"{gv}/namespaces/{{ns}}/{r['name']}")
    return paths


def create_namespace(srv: RunningServer, name: str) -> None:
    r = srv.session().post(srv.url + "/api/v1/namespaces",
                           json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text


def destroy_namespace(srv: RunningServer, name: str, collections: list[str]) -> None:
    s = srv.session()
    for p in collections:
        r = s.delete(srv.url + p.format(ns=name), params={"gracePeriodSeconds": "0"})
        assert r.status_code in (200, 404), (p, r.text)
    s.delete(srv.url + f"/api/v1/namespaces/{name}")
    r = s.put(srv.url + f"/api/v1/namespaces/{name}/finalize",
              json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": []}})
    assert r.status_code in (200, 404), r.text


@pytest.fixture(scope="session")
def collections(server: RunningServer) -> list[str]:
    return namespaced_collections(server)


@pytest.fixture
def ns(server: RunningServer, collections: list[str]) -> Iterator[str]:
    name = unique("e2e")
    create_namespace(server, name)
    yield name
    destroy_namespace(server, name, collections)


@pytest.fixture
def node_name(server: RunningServer) -> Iterator[str]:
    """A unique name for a cluster-scoped Node that the test may create; deleted afterwards."""
    name = unique("node")
    yield name
    server.session().delete(server.url + f"/api/v1/nodes/{name}")


class Kubectl:
    """``kubectl`` bound to one server and (optionally) one namespace."""

    def __init__(self, srv: RunningServer, namespace: str | None) -> None:
        self.srv = srv
        self.namespace = namespace
        self.started: list[Background] = []

    def _args(self, args: tuple[str, ...]) -> list[str]:
        return ["-n", self.namespace, *args] if self.namespace else list(args)

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.srv.kubectl(*self._args(args), input=input, check=check, env=env)

    def fail(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command that must fail; return it for assertions on stderr."""
        p = self(*args, input=input, check=False)
        assert p.returncode != 0, f"kubectl {' '.join(args)} unexpectedly succeeded:\n{p.stdout}"
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def background(self, *args: str) -> Background:
        bg = Background(self.srv, self._args(args))
        self.started.append(bg)
        return bg

    def stop_all(self) -> None:
        for bg in self.started:
            bg.stop()


class Background:
    """A kubectl process left running (``get -w``, ``wait``), read line by line."""

    def __init__(self, srv: RunningServer, args: list[str]) -> None:
        env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "HOME": str(srv.data_dir)}
        self.proc = subprocess.Popen(["kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.lines: list[str] = []
        self._eof = False
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pred: Callable[[str], bool], timeout: float = 10) -> str:
        """The first line (seen so far or arriving within ``timeout``) that satisfies ``pred``."""
        for line in self.lines:
            if pred(line):
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._eof = True
                break
            self.lines.append(line)
            if pred(line):
                return line
        raise AssertionError("no matching line from kubectl; got:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 10) -> int:
        """Wait for the process to exit by itself; return its exit code (output is in ``lines``)."""
        rc = self.proc.wait(timeout)
        while not self._eof:
            line = self._q.get(timeout=5)
            if line is None:
                self._eof = True
            else:
                self.lines.append(line)
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def kubectl(server: RunningServer, ns: str) -> Iterator[Kubectl]:
    k = Kubectl(server, ns)
    yield k
    k.stop_all()


@pytest.fixture
def kubectl_cluster(server: RunningServer) -> Iterator[Kubectl]:
    """kubectl without a namespace flag (for cluster-scoped objects and -A)."""
    k = Kubectl(server, None)
    yield k
    k.stop_all()

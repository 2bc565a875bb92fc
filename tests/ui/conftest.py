"""Fixtures for the web UI tests: Debian's chromium through Playwright, and a cluster to look at.

The cluster is a real ``shoal server`` (scheduler and controllers on, no local
agent) and one ``shoal agent --runtime process``, so a deployed manifest's
pods really run (as host processes): their logs are real and exec runs a real
shell. A static token file gives a second, restricted user (``viewer``, who
may only read namespace ``team``). Every pod is deleted before the agent stops
(a process agent leaves its processes running when it stops).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import AgentProc, unique
from tests.server_fixture import RunningServer, start_server

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]
VIEWER_TOKEN = "viewer-token-0123456789"
DOCS_UI = Path(__file__).parents[2] / "docs" / "ui"


def chromium_path() -> str | None:
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    exe = chromium_path()
    if exe is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


class UiCluster:
    def __init__(self, server: RunningServer, agent: AgentProc) -> None:
        self.server = server
        self.agent = agent
        self.http = server.session()
        self.node = agent.node

    @property
    def ui(self) -> str:
        return self.server.url + "/ui/"

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, self.server.url + path, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def wait(self, what: str, pred: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n--- agent log ---\n{self.agent.log()[-2000:]}")

    def pods(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        return list(self.api("GET", f"/api/v1/namespaces/{namespace}/pods", params=params)["items"])

    def remove_all_pods(self) -> None:
        url = self.server.url
        for kind in ("deployments", "statefulsets", "daemonsets", "replicasets"):
            for o in self.api("GET", f"/apis/apps/v1/{kind}")["items"]:
                md = o["metadata"]
                self.http.delete(f"{url}/apis/apps/v1/namespaces/{md['namespace']}/{kind}/{md['name']}")

        def gone() -> bool:
            items = self.api("GET", "/api/v1/pods")["items"]
            for o in items:
                md = o["metadata"]
                self.http.delete(f"{url}/api/v1/namespaces/{md['namespace']}/pods/{md['name']}",
                                 json={"gracePeriodSeconds": 1})
            return not items

        self.wait("every pod gone", gone, timeout=60)


def _ready(node: dict[str, Any]) -> bool:
    if node.get("kind") != "Node":
        return False
    return any(x.get("type") == "Ready" and x.get("status") == "True" for x in node["status"].get("conditions", []))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiCluster]:
    root = Path(tmp_path_factory.mktemp("ui"))
    tokens = root / "tokens.csv"
    tokens.write_text(f"{VIEWER_TOKEN},viewer,4001\n")
    server = start_server(root / "server", args=["--token-auth-file", str(tokens)])
    agent = AgentProc(server, unique("ui-node"), root / "agent", ["--runtime", "process"],
                      {"SHOAL_AGENT_BACKOFF_SECONDS": "1", "SHOAL_AGENT_SWEEP_SECONDS": "2"})
    agent.start()
    c = UiCluster(server, agent)
    try:
        c.wait("the node to be Ready", lambda: _ready(c.http.get(f"{server.url}/api/v1/nodes/{agent.node}").json()))
        server.kubectl("create", "namespace", "team")
        server.kubectl("create", "rolebinding", "viewer-view", "--clusterrole=view", "--user=viewer", "-n", "team")
        yield c
    finally:
        try:
            c.remove_all_pods()
        finally:
            agent.stop()
            server.stop()


@pytest.fixture
def page_for(browser: Any) -> Iterator[Callable[..., Any]]:
    """A new page in a fresh context (its own sessionStorage), closed after the test."""
    contexts: list[Any] = []

    def make(**context_args: Any) -> Any:
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800}, **context_args)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20000)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def shots() -> Path | None:
    """Where screenshots go: docs/ui when SHOAL_UI_SCREENSHOTS=1 (to refresh the committed ones)."""
    return DOCS_UI if os.environ.get("SHOAL_UI_SCREENSHOTS") == "1" else None


def goto(page: Any, url: str, attempts: int = 3) -> None:
    """Navigate; again if this machine's network churn (other tests' namespaces) aborted the load."""
    for i in range(attempts):
        try:
            page.goto(url)
            page.wait_for_selector("#signin, header", timeout=10000)
            return
        except Exception:
            if i == attempts - 1:
                raise


def sign_in(page: Any, cluster: UiCluster, token: str | None = None) -> None:
    goto(page, cluster.ui)
    page.fill("#token", token or cluster.server.token)
    page.click("#signin-token")
    page.wait_for_selector("header #user")


def wait_text(page: Any, selector: str, pattern: str, timeout: float = 20) -> str:
    """Wait until the text of ``selector`` matches ``pattern`` (a regex, multi-line); the text.

    Polled from here: the page's Content-Security-Policy refuses the string evaluation that
    Playwright's ``wait_for_function`` would use."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        el = page.query_selector(selector)
        text = el.text_content() if el is not None else ""
        if re.search(pattern, text or "", re.M):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{selector} never matched {pattern!r}; it reads:\n{text}")

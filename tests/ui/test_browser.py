"""The web UI in a real browser (Debian's chromium, headless, through Playwright) against a real cluster.

What a user does: sign in, see the node, deploy a manifest, scale, restart and
roll back, read a pod's log line, run a command in its terminal, see a warning
event arrive, and, as a restricted user, see the 403 next to what it refused.
Every check reads the screen; the API is used only to set the scene or to
confirm that a button did what kubectl does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.ui.conftest import VIEWER_TOKEN, UiCluster, goto, sign_in, wait_text

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "echo hello from shoal-ui; exec sleep 600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: team
spec:
  selector: {app: web}
  ports:
  - port: 80
"""


def shot(page: Any, shots: Path | None, name: str) -> None:
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def deploy_web(page: Any, cluster: UiCluster) -> None:
    if any(d["metadata"]["name"] == "web" for d in cluster.api("GET", "/apis/apps/v1/namespaces/team/deployments")["items"]):
        return
    page.click("#nav-deploy")
    page.fill("#manifest", MANIFEST)
    page.click("#deploy")
    page.wait_for_selector("#deploy-results li.ok >> nth=1")


def web_pod(cluster: UiCluster) -> dict[str, Any]:
    return cluster.wait("a running web pod", lambda: next(
        (p for p in cluster.pods("team", "app=web")
         if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")), None))


# ---- sign in ------------------------------------------------------------------------------------
def test_sign_in_and_see_the_node(cluster: UiCluster, page_for: Any, shots: Path | None) -> None:
    page = page_for()
    goto(page, cluster.ui)
    page.fill("#token", "not-a-token")
    page.click("#signin-token")
    refusal = page.wait_for_selector("#signin .error")
    assert "401" in refusal.inner_text() and "not accepted" in refusal.inner_text()
    page.fill("#token", cluster.server.token)
    page.click("#signin-token")
    page.wait_for_selector("body[data-painted=overview]")
    row = page.wait_for_selector(f"#overview-nodes tr[data-key='{cluster.node}']")
    assert "Ready" in row.inner_text()
    # capacity bars for pods; CPU and memory say "no metrics" while metrics.k8s.io is not served
    assert row.query_selector("meter") is not None
    metrics = cluster.http.get(cluster.server.url + "/apis/metrics.k8s.io/v1beta1/nodes").status_code
    if metrics == 404:
        assert "no metrics" in row.inner_text()
    assert page.inner_text("#user") not in ("", "…")
    # a reload keeps the session (this tab's sessionStorage), and sign-out forgets it
    page.reload()
    page.wait_for_selector("body[data-painted=overview]")
    page.click("#signout")
    page.wait_for_selector("#signin")
    page.reload()
    page.wait_for_selector("#signin")


def test_sign_in_with_a_client_certificate(cluster: UiCluster, page_for: Any, tmp_path: Path) -> None:
    import base64

    import yaml

    kc = yaml.safe_load(_run_shoal(cluster, "user", "add", "carol", "--group", "devs"))
    user = kc["users"][0]["user"]
    cert, key = tmp_path / "carol.crt", tmp_path / "carol.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    page = page_for(client_certificates=[{"origin": cluster.server.url, "certPath": str(cert), "keyPath": str(key)}])
    goto(page, cluster.ui)
    page.click("#signin-cert")
    page.wait_for_selector("body[data-painted=overview]")
    assert page.inner_text("#user") == "carol"
    # carol may do nothing yet: the nodes panel says so, the page is not blank
    alert = page.wait_for_selector("#overview-nodes .error")
    assert "403" in alert.inner_text() and "carol" in alert.inner_text()


def _run_shoal(cluster: UiCluster, *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "shoal", *args, "--data-dir", str(cluster.server.data_dir)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


# ---- deploy, scale, restart, roll back ------------------------------------------------------------
def test_deploy_scale_restart_and_roll_back(cluster: UiCluster, page_for: Any, shots: Path | None) -> None:
    page = page_for()
    sign_in(page, cluster)
    page.click("#nav-deploy")
    page.fill("#manifest", MANIFEST)
    shot(page, shots, "deploy")
    page.click("#deploy")
    results = page.wait_for_selector("#deploy-results li.ok >> nth=1")
    text = page.inner_text("#deploy-results")
    assert "deployment.apps/web serverside-applied" in text and "service/web serverside-applied" in text, text
    assert results is not None
    cluster.wait("the web deployment", lambda: cluster.pods("team", "app=web"))

    goto(page, cluster.ui + "#/workloads/Deployment")
    page.wait_for_selector("#workload-list tr[data-key='team/web']")
    page.click("#workload-list tr[data-key='team/web'] a.select")
    page.wait_for_selector("#workload-detail #replicas")
    page.fill("#replicas", "3")
    page.click("#scale")
    page.wait_for_selector("#action-msg:has-text('deployment.apps/web scaled')")
    assert cluster.api("GET", "/apis/apps/v1/namespaces/team/deployments/web")["spec"]["replicas"] == 3
    # the row follows the watch: READY reaches 3/3 without a reload
    page.wait_for_selector("#workload-list tr[data-key='team/web'] td:text-is('3/3')", timeout=45000)
    shot(page, shots, "workloads")

    page.click("#restart")
    page.wait_for_selector("#action-msg:has-text('restarted')")
    d = cluster.api("GET", "/apis/apps/v1/namespaces/team/deployments/web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"].get("annotations", {})
    # two revisions in the history; undo goes back to the first, as kubectl rollout undo does
    page.wait_for_selector("#workload-detail table.history button[data-revision='2']", timeout=20000)
    page.click("#undo")
    page.wait_for_selector("#action-msg:has-text('rolled back')")
    d = cluster.api("GET", "/apis/apps/v1/namespaces/team/deployments/web")
    assert "kubectl.kubernetes.io/restartedAt" not in (d["spec"]["template"]["metadata"].get("annotations") or {})
    # back at revision 1's template, now as revision 3
    page.wait_for_selector("#workload-detail table.history button[data-revision='3']", timeout=20000)
    page.fill("#replicas", "1")
    page.click("#scale")
    page.wait_for_selector("#action-msg:has-text('scaled')")

    goto(page, cluster.ui + "#/services")
    row = page.wait_for_selector("#service-list tr[data-key='team/web']")
    wait_text(page, "#service-list tr[data-key='team/web'] td.endpoints", r":80\b", timeout=30)
    assert "80/TCP" in row.inner_text()
    shot(page, shots, "services")


def test_a_bad_manifest_is_refused_next_to_its_document(cluster: UiCluster, page_for: Any) -> None:
    page = page_for()
    sign_in(page, cluster)
    page.click("#nav-deploy")
    page.fill("#manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n  namespace: team\n"
                           "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\n  namespace: team\n"
                           "spec:\n  ports: [{port: 80}]\n---\napiVersion: v1\nkind: Nonsense\nmetadata: {name: x}\n")
    page.click("#deploy")
    page.wait_for_selector("#deploy-results li:nth-child(3):not(.pending)")
    items = page.query_selector_all("#deploy-results li")
    assert items[0].get_attribute("class") == "ok"
    assert items[1].get_attribute("class") == "error" and "422" in items[1].inner_text(), items[1].inner_text()
    assert "Bad_Name" in items[1].inner_text()
    assert "no matches" in items[2].inner_text() or "not found" in items[2].inner_text()
    page.fill("#manifest", "key: [unclosed")
    page.click("#deploy")
    assert "error" in page.wait_for_selector("#deploy-panel .msg .error").inner_text()


# ---- logs and the terminal -------------------------------------------------------------------------
def test_pod_log_line_and_a_command_in_the_terminal(cluster: UiCluster, page_for: Any, shots: Path | None) -> None:
    page = page_for()
    sign_in(page, cluster)
    deploy_web(page, cluster)
    pod = web_pod(cluster)
    name = pod["metadata"]["name"]
    goto(page, cluster.ui + "#/pods")
    page.wait_for_selector(f"#pod-list tr[data-key='team/{name}'] td:text-is('Running')")
    shot(page, shots, "pods")
    page.click(f"#pod-list tr[data-key='team/{name}'] a")
    page.wait_for_selector("#log:has-text('hello from shoal-ui')")
    # follow: a line the container writes later shows up (the process driver's log is a file it appends)
    page.click("#term-connect")
    page.wait_for_selector("#terminal[data-state=open]")
    page.click("#terminal")
    page.keyboard.type("echo $((6*7)) > /dev/null; echo answer=$((6*7))")
    page.keyboard.press("Enter")
    wait_text(page, "#terminal", r"^answer=42$")
    shot(page, shots, "pod")
    page.keyboard.type("exit 3")
    page.keyboard.press("Enter")
    msg = page.wait_for_selector("#pod-terminal .msg .error")
    assert "command terminated with exit code 3" in msg.inner_text()


def test_exec_refusals_are_shown_in_the_terminal_panel(cluster: UiCluster, page_for: Any) -> None:
    admin = page_for()
    sign_in(admin, cluster)
    deploy_web(admin, cluster)
    name = web_pod(cluster)["metadata"]["name"]
    # a command that is not there: the session ends with the runtime's reason, not a blank terminal
    goto(admin, cluster.ui + f"#/pod/team/{name}")
    admin.fill("#term-command", "no-such-command-here")
    admin.click("#term-connect")
    assert admin.wait_for_selector("#pod-terminal .msg .error").inner_text().strip()
    # a user who may read the pod but not exec into it: the 403, beside the terminal
    viewer = page_for()
    sign_in(viewer, cluster, VIEWER_TOKEN)
    goto(viewer, cluster.ui + f"#/pod/team/{name}")
    viewer.click("#term-connect")
    msg = viewer.wait_for_selector("#pod-terminal .msg .error").inner_text()
    assert "403" in msg and "pods/exec" in msg and "viewer" in msg, msg


# ---- events as they happen; a pod's status change, live ---------------------------------------------
def test_warning_event_and_status_change_arrive_live(cluster: UiCluster, page_for: Any, shots: Path | None) -> None:
    page = page_for()
    sign_in(page, cluster)
    page.wait_for_selector("body[data-painted=overview]")
    bad = f"broken-{int(time.time())}"
    cluster.api("POST", "/api/v1/namespaces/team/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": bad},
        "spec": {"nodeName": cluster.node, "restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "busybox", "command": ["no-such-binary-xyz"]}]}})
    row = page.wait_for_selector(f"#overview-warnings tr:has-text('pod/{bad}')", timeout=30000)
    assert "Failed" in row.inner_text()
    shot(page, shots, "overview")
    page.click("#nav-events")
    page.wait_for_selector("body[data-painted=events]")
    page.check("#warnings-only")
    page.wait_for_selector(f"#event-list tr:has-text('pod/{bad}') td.warning")
    shot(page, shots, "events")
    # a status written now shows on the pods page without a reload
    page.click("#nav-pods")
    page.wait_for_selector(f"#pod-list tr[data-key='team/{bad}']")
    pod = cluster.api("GET", f"/api/v1/namespaces/team/pods/{bad}")
    pod["status"] = {**(pod.get("status") or {}), "phase": "Failed", "reason": "Evicted", "containerStatuses": []}
    cluster.api("PUT", f"/api/v1/namespaces/team/pods/{bad}/status", json=pod)
    page.wait_for_selector(f"#pod-list tr[data-key='team/{bad}'] td:text-is('Evicted')", timeout=5000)


# ---- a restricted user ---------------------------------------------------------------------------
def test_a_restricted_user_sees_403s_as_messages(cluster: UiCluster, page_for: Any, shots: Path | None) -> None:
    page = page_for()
    sign_in(page, cluster, VIEWER_TOKEN)
    assert page.wait_for_selector("#user:text-is('viewer')")
    alert = page.wait_for_selector("#overview-nodes .error[role=alert]")
    assert re.search(r'403 Forbidden: nodes is forbidden: User "viewer" cannot list resource "nodes"', alert.inner_text())
    # the other panels say why too; nothing is blank
    assert "403" in page.inner_text("#overview-pods .error")
    shot(page, shots, "forbidden")
    # in the namespace the user may read, the same pages work
    page.fill("#namespace", "team")
    page.press("#namespace", "Enter")
    page.wait_for_selector("body[data-painted=overview]")
    page.wait_for_selector("#pod-total")
    assert page.query_selector("#overview-pods .error") is None
    # and what the user may not write is refused beside the button
    page.click("#nav-deploy")
    page.fill("#manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\n")
    page.click("#deploy")
    li = page.wait_for_selector("#deploy-results li.error")
    assert "403" in li.inner_text() and "viewer" in li.inner_text()


# ---- deploy other systems' definitions ------------------------------------------------------------
COMPOSE = """\
services:
  front:
    image: busybox
    command: ["sh", "-c", "sleep 3600"]
    deploy: {replicas: 1}
"""
MARATHON_APP = '{"id": "/uitest/worker", "cmd": "sleep 3600", "instances": 1, "cpus": 0.01, "mem": 16}'


def test_deploy_compose_file_and_marathon_app(cluster: UiCluster, page_for: Any) -> None:
    page = page_for()
    sign_in(page, cluster)
    page.click("#nav-deploy")
    page.fill("#manifest", COMPOSE)
    page.fill("#deploy-stack", "uishop")
    page.click("#deploy")
    li = page.wait_for_selector("#deploy-results li.ok")
    assert li is not None and "deployment/front -n uishop created" in li.inner_text(), li and li.inner_text()
    page.fill("#manifest", MARATHON_APP)
    page.click("#deploy")
    li = page.wait_for_selector("#deploy-results li.ok")
    assert li is not None and "marathon app /uitest/worker created" in li.inner_text(), li.inner_text()
    assert "deployment/worker-uitest -n marathon created" in li.inner_text()
    # Marathon's own refusal, beside the document that caused it
    page.fill("#manifest", '{"id": "/uitest/bad", "cmd": "sleep 1", "instances": -1}')
    page.click("#deploy")
    err = page.wait_for_selector("#deploy-results li.error")
    assert err is not None and "Marathon app /uitest/bad" in err.inner_text(), err and err.inner_text()
    assert "Object is not valid: /instances" in err.inner_text()
    # both Deployments show on the workloads page
    goto(page, cluster.ui + "#/workloads/Deployment")
    page.wait_for_selector("#workload-list tr[data-key='uishop/front']")
    page.wait_for_selector("#workload-list tr[data-key='marathon/worker-uitest']")

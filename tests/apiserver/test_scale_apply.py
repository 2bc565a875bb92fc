"""Server-side apply through ``/scale`` with the real kubectl (``apply --server-side --subresource=scale``):
the replicas change, the field is owned under the ``scale`` subresource, and a later apply of the object by
another manager that sets replicas conflicts with it."""

from __future__ import annotations

import json
import uuid

from tests.server_fixture import RunningServer


def test_apply_through_scale(server: RunningServer) -> None:
    ns = f"sa-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", ns)
    server.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=1")
    # kubectl sends the manifest of the object's own kind to /scale; kubectl create owns replicas until forced
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4}}
    p = server.kubectl("-n", ns, "apply", "--server-side", "--subresource=scale", "--field-manager=scaler",
                       "-f", "-", input=json.dumps(manifest), check=False)
    assert p.returncode != 0 and 'conflict with "kubectl-create" using apps/v1: .spec.replicas' in p.stderr
    p = server.kubectl("-n", ns, "apply", "--server-side", "--subresource=scale", "--field-manager=scaler",
                       "--force-conflicts", "-f", "-", input=json.dumps(manifest))
    assert "serverside-applied" in p.stdout
    d = json.loads(server.kubectl("-n", ns, "get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    assert d["spec"]["replicas"] == 4
    mine = [m for m in d["metadata"]["managedFields"] if m["manager"] == "scaler"]
    assert len(mine) == 1 and mine[0]["operation"] == "Apply" and mine[0]["subresource"] == "scale"
    assert mine[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # another manager applying replicas now conflicts with the scaler
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    p = server.kubectl("-n", ns, "apply", "--server-side", "--field-manager=other", "-f", "-",
                       input=json.dumps(dep), check=False)
    assert p.returncode != 0 and 'conflict with "scaler" with subresource "scale"' in p.stderr, p.stderr
    # a Scale body is taken too, and a bad one refused
    s = server.session()
    url = f"{server.url}/apis/apps/v1/namespaces/{ns}/deployments/web/scale?fieldManager=scaler"
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 5}}
    r = s.patch(url, data=json.dumps(scale), headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 200 and r.json()["kind"] == "Scale" and r.json()["spec"]["replicas"] == 5, r.text
    scale["spec"]["replicas"] = -1
    r = s.patch(url, data=json.dumps(scale), headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 422 and "spec.replicas: Invalid value: -1" in r.json()["message"]
    r = s.patch(url, data=json.dumps({"apiVersion": "v1", "kind": "ConfigMap"}),
                headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 400 and r.json()["message"] == "invalid object type: /v1, Kind=ConfigMap"

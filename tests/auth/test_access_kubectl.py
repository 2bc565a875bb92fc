"""Access control end to end with the real kubectl: users, RBAC, service-account tokens, OIDC, 401s and 403s.

One server with a static token file and an OIDC issuer of the test's own on
loopback (a plain HTTP server publishing a discovery document and a JWKS;
tokens are signed here with ``cryptography``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from shoal.apiserver.authn import jwt
from shoal.apiserver.authn.serviceaccount import ISSUER, claims_for, load_or_create_key
from tests.server_fixture import RunningServer, free_port, start_server

OIDC_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OIDC_KID = jwt.key_id(OIDC_KEY.public_key())


class _Issuer(BaseHTTPRequestHandler):
    base = ""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/.well-known/openid-configuration":
            body = {"issuer": self.base, "jwks_uri": f"{self.base}/keys"}
        elif self.path == "/keys":
            body = {"keys": [jwt.to_jwk(OIDC_KEY.public_key())]}
        else:
            self.send_error(404)
            return
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    port = free_port()
    _Issuer.base = f"http://127.0.0.1:{port}"
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Issuer)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield _Issuer.base
    httpd.shutdown()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, issuer: str) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("access"))
    tokens = root / "tokens.csv"
    tokens.write_text('carol-token,carol,2001,"ops,auditors"\n')
    s = start_server(root / "data", args=[
        "--disable-scheduler", "--disable-controller-manager", "--token-auth-file", str(tokens),
        "--oidc-issuer-url", issuer, "--oidc-client-id", "shoal", "--oidc-groups-claim", "groups",
        "--oidc-groups-prefix", "oidc:", "--oidc-username-prefix", "oidc:"])
    for ns in ("team-a", "team-b", "team-c"):
        s.kubectl("create", "namespace", ns)
    yield s
    s.stop()


def kubeconfig_of(srv: RunningServer, name: str, *groups: str) -> Path:
    path = srv.data_dir.parent / f"{name}.kubeconfig"
    if not path.exists():
        args = ["user", "add", name, *(a for g in groups for a in ("--group", g)), "--data-dir", str(srv.data_dir)]
        out = subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, check=True)
        path.write_text(out.stdout)
    return path


def as_user(srv: RunningServer, kubeconfig: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return srv.kubectl(*args, check=check, env={"KUBECONFIG": str(kubeconfig)})


def with_token(srv: RunningServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return srv.kubectl("--kubeconfig", os.devnull, "--server", srv.url, "--certificate-authority", srv.ca,
                       "--token", token, *args, check=False, env={"KUBECONFIG": os.devnull})


def eventually(fn: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_a_user_from_the_cluster_ca_is_held_to_rbac(srv: RunningServer) -> None:
    alice = kubeconfig_of(srv, "alice", "dev")
    denied = as_user(srv, alice, "get", "pods", "-n", "team-a")
    assert denied.returncode != 0
    srv.kubectl("create", "rolebinding", "dev-edit", "--clusterrole=edit", "--group=dev", "-n", "team-a")
    assert as_user(srv, alice, "get", "pods", "-n", "team-a").returncode == 0
    p = as_user(srv, alice, "get", "pods", "-n", "team-b")
    assert p.returncode != 0
    assert p.stderr.strip() == ('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
                                '"pods" in API group "" in the namespace "team-b"')
    # a denied write writes nothing
    p = as_user(srv, alice, "create", "configmap", "nope", "-n", "team-b")
    assert 'configmaps is forbidden: User "alice" cannot create resource "configmaps"' in p.stderr
    assert srv.kubectl("get", "configmap", "nope", "-n", "team-b", check=False).returncode != 0
    assert as_user(srv, alice, "create", "deployment", "web", "--image=nginx", "-n", "team-a").returncode == 0
    who = as_user(srv, alice, "auth", "whoami", "-o", "json", check=True)
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "alice" and info["groups"] == ["dev", "system:authenticated"]


def test_can_i(srv: RunningServer) -> None:
    srv.kubectl("create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", "team-a")
    assert srv.kubectl("auth", "can-i", "create", "deployments", "-n", "team-a", "--as", "alice").stdout.strip() == "yes"
    p = srv.kubectl("auth", "can-i", "create", "deployments", "-n", "team-b", "--as", "alice", check=False)
    assert p.stdout.strip() == "no" and p.returncode == 1
    # impersonated groups are what --as-group says, as upstream
    srv.kubectl("create", "rolebinding", "dev-view", "--clusterrole=view", "--group=dev", "-n", "team-c")
    assert srv.kubectl("auth", "can-i", "list", "pods", "-n", "team-c", "--as", "alice", "--as-group", "dev").stdout \
        .strip() == "yes"
    assert srv.kubectl("auth", "can-i", "list", "pods", "-n", "team-c", "--as", "alice", check=False).stdout \
        .strip() == "no"
    listing = as_user(srv, kubeconfig_of(srv, "alice", "dev"), "auth", "can-i", "--list", "-n", "team-a", check=True)
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert "create" in rows["deployments.apps"] and "selfsubjectaccessreviews.authorization.k8s.io" in rows
    assert "rolebindings.rbac.authorization.k8s.io" not in rows
    # the admin (system:masters) may do anything
    assert srv.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"


def test_impersonation_needs_the_impersonate_verb(srv: RunningServer) -> None:
    alice = kubeconfig_of(srv, "alice", "dev")
    p = as_user(srv, alice, "get", "pods", "-n", "team-a", "--as", "bob")
    assert p.stderr.strip() == ('Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot '
                                'impersonate resource "users" in API group "" at the cluster scope')


def test_service_account_tokens(srv: RunningServer) -> None:
    srv.kubectl("create", "serviceaccount", "builder", "-n", "team-a")
    srv.kubectl("create", "rolebinding", "builder-view", "--clusterrole=view", "--serviceaccount=team-a:builder",
                "-n", "team-a")
    token = srv.kubectl("create", "token", "builder", "-n", "team-a", "--duration", "10m").stdout.strip()
    claims = jwt.split(token)[1]
    assert claims["exp"] - claims["iat"] == 600 and claims["sub"] == "system:serviceaccount:team-a:builder"
    assert with_token(srv, token, "get", "pods", "-n", "team-a").returncode == 0
    p = with_token(srv, token, "create", "configmap", "x", "-n", "team-a")
    assert ('configmaps is forbidden: User "system:serviceaccount:team-a:builder" cannot create resource '
            '"configmaps" in API group "" in the namespace "team-a"') in p.stderr
    who = json.loads(with_token(srv, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["groups"] == ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]
    p = srv.kubectl("create", "token", "builder", "-n", "team-a", "--duration", "5m", check=False)
    assert "may not specify a duration less than 10 minutes" in p.stderr
    assert "not found" in srv.kubectl("create", "token", "nobody", "-n", "team-a", check=False).stderr
    # the issuer's discovery is public; its keys verify the token
    anon = requests.Session()
    anon.trust_env = False
    anon.verify = srv.ca
    doc = anon.get(srv.url + "/.well-known/openid-configuration").json()
    assert doc["issuer"] == ISSUER
    keys = [(k["kid"], jwt.from_jwk(k)) for k in anon.get(srv.url + "/openid/v1/jwks").json()["keys"]]
    assert jwt.verify(token, [(kid, key) for kid, key in keys if key is not None])["iss"] == ISSUER
    # deleting the account revokes its tokens (after the short authentication cache)
    srv.kubectl("delete", "serviceaccount", "builder", "-n", "team-a")
    assert eventually(lambda: with_token(srv, token, "get", "pods", "-n", "team-a").returncode != 0, 15)


def _sa_token(srv: RunningServer, **override: Any) -> str:
    key = load_or_create_key(srv.data_dir / "sa.key")
    srv.kubectl("create", "serviceaccount", "deployer", "-n", "team-b", check=False)
    uid = json.loads(srv.kubectl("get", "sa", "deployer", "-n", "team-b", "-o", "json").stdout)["metadata"]["uid"]
    claims = claims_for(issuer=ISSUER, namespace="team-b", name="deployer", uid=uid, audiences=[ISSUER],
                        now=int(time.time()), seconds=600)
    return jwt.encode({**claims, **override}, key, kid=jwt.key_id(key.public_key()))


def test_bad_tokens_are_401(srv: RunningServer, issuer: str) -> None:
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.ca

    def status(token: str) -> int:
        return s.get(srv.url + "/api/v1/namespaces/team-b/pods", headers={"Authorization": f"Bearer {token}"}) \
            .status_code

    assert status(_sa_token(srv)) == 403  # a good token of an account with no permissions: authenticated
    assert status(_sa_token(srv, exp=int(time.time()) - 3600)) == 401  # expired
    assert status(_sa_token(srv, iss="https://elsewhere")) == 401  # wrong issuer
    assert status(_sa_token(srv, aud=["vault"])) == 401  # wrong audience
    head, body, _ = _sa_token(srv).split(".")
    assert status(f"{head}.{body}.") == 401  # unsigned
    alg_none = jwt.b64url(b'{"alg":"none"}')
    assert status(f"{alg_none}.{body}.") == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert status(jwt.encode(jwt.split(_sa_token(srv))[1], other)) == 401  # signed by another key
    for_vault = srv.kubectl("create", "token", "deployer", "-n", "team-b", "--audience", "vault").stdout.strip()
    assert status(for_vault) == 401
    r = s.get(srv.url + "/api/v1/namespaces", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
    # anonymous: the public-info paths only
    assert s.get(srv.url + "/version").status_code == 200 and s.get(srv.url + "/api").status_code == 401


def test_static_token_file(srv: RunningServer) -> None:
    srv.kubectl("create", "clusterrolebinding", "auditors-view", "--clusterrole=view", "--group=auditors")
    assert with_token(srv, "carol-token", "get", "deployments", "-A").returncode == 0
    who = json.loads(with_token(srv, "carol-token", "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who == {"username": "carol", "uid": "2001", "groups": ["ops", "auditors", "system:authenticated"]}
    assert "forbidden" in with_token(srv, "carol-token", "delete", "deployment", "web", "-n", "team-a").stderr


def _id_token(issuer: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": issuer, "aud": "shoal", "sub": "u-17", "groups": ["sre"], "iat": now, "exp": now + 300}
    return jwt.encode({**base, **claims}, OIDC_KEY, kid=OIDC_KID)


def test_oidc(srv: RunningServer, issuer: str) -> None:
    srv.kubectl("create", "rolebinding", "sre-edit", "--clusterrole=edit", "--group=oidc:sre", "-n", "team-c")
    token = _id_token(issuer)
    who = json.loads(with_token(srv, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who == {"username": "oidc:u-17", "groups": ["oidc:sre", "system:authenticated"]}
    assert with_token(srv, token, "create", "configmap", "from-sso", "-n", "team-c").returncode == 0
    assert "forbidden" in with_token(srv, token, "get", "pods", "-n", "team-a").stderr
    for bad in (_id_token(issuer, aud="other"), _id_token(issuer, exp=int(time.time()) - 3600),
                jwt.encode(jwt.split(token)[1], rsa.generate_private_key(public_exponent=65537, key_size=2048),
                           kid=OIDC_KID)):
        assert "Unauthorized" in with_token(srv, bad, "get", "pods", "-n", "team-c").stderr


def test_escalation_is_refused_with_upstreams_message(srv: RunningServer) -> None:
    srv.kubectl("create", "rolebinding", "dana-admin", "--clusterrole=admin", "--user=dana", "-n", "team-c")
    dana = kubeconfig_of(srv, "dana")
    ok = as_user(srv, dana, "create", "role", "secret-reader", "--verb=get", "--resource=secrets", "-n", "team-c")
    assert ok.returncode == 0, ok.stderr
    p = as_user(srv, dana, "create", "role", "node-reader", "--verb=list", "--resource=nodes", "-n", "team-c")
    assert p.stderr.strip() == (
        'Error from server (Forbidden): roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "dana" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}')
    p = as_user(srv, dana, "create", "rolebinding", "grab", "--clusterrole=cluster-admin", "--user=dana", "-n", "team-c")
    assert 'rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user "dana"' in p.stderr
    assert as_user(srv, dana, "get", "secrets", "-n", "team-a").returncode != 0
    # binding what one holds is fine
    ok = as_user(srv, dana, "create", "rolebinding", "share", "--role=secret-reader", "--user=erin", "-n", "team-c")
    assert ok.returncode == 0, ok.stderr


def test_odd_but_valid_rbac_objects(srv: RunningServer) -> None:
    # a verb that does not exist is accepted, as upstream
    srv.kubectl("create", "role", "odd", "--verb=frobnicate", "--resource=pods", "-n", "team-b")
    # a binding to a missing role is accepted and grants nothing
    srv.kubectl("create", "rolebinding", "dangling", "--clusterrole=does-not-exist", "--user=frank", "-n", "team-b")
    assert srv.kubectl("auth", "can-i", "get", "pods", "-n", "team-b", "--as", "frank", check=False).stdout \
        .strip() == "no"
    p = srv.kubectl("create", "role", "empty", "--verb=get", "--resource=pods", "-n", "team-b", "-o", "json")
    assert json.loads(p.stdout)["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    table = srv.kubectl("get", "rolebindings", "-n", "team-b", "-o", "wide").stdout
    assert "ClusterRole/does-not-exist" in table and "frank" in table


def test_aggregated_cluster_roles_follow_their_selectors(srv: RunningServer) -> None:
    srv.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}]}))

    def view_has_widgets() -> bool:
        rules = json.loads(srv.kubectl("get", "clusterrole", "view", "-o", "json").stdout)["rules"]
        return any("widgets" in r.get("resources", []) for r in rules)

    assert eventually(view_has_widgets)
    # and edit and admin, which aggregate view
    assert eventually(lambda: "widgets" in srv.kubectl("get", "clusterrole", "admin", "-o", "json").stdout)


def test_subject_access_review(srv: RunningServer) -> None:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "groups": ["dev"],
                     "resourceAttributes": {"namespace": "team-a", "verb": "create", "group": "apps",
                                            "resource": "deployments"}}}
    r = srv.session().post(srv.url + "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=body)
    assert r.status_code == 201 and r.json()["status"]["allowed"] is True
    body["spec"]["resourceAttributes"]["namespace"] = "team-b"
    assert srv.session().post(srv.url + "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=body) \
        .json()["status"]["allowed"] is False

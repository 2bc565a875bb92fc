"""Service environment variables with upstream's names."""

from __future__ import annotations

from shoal.network.svcenv import service_env


def svc(ns: str, name: str, ip: str, *ports: tuple[str, int, str]) -> dict[str, object]:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}}


def test_names_and_values() -> None:
    env = service_env([svc("app", "redis-primary", "10.43.0.11", ("", 6379, "TCP")),
                       svc("app", "web", "10.43.0.12", ("http", 80, "TCP"), ("dns", 53, "UDP")),
                       svc("other", "hidden", "10.43.0.13", ("", 1, "TCP")),
                       svc("app", "headless", "None", ("", 2, "TCP")),
                       svc("default", "kubernetes", "10.43.0.1", ("https", 443, "TCP"))], "app")
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.43.0.11"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.43.0.11:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.43.0.11"
    assert env["WEB_SERVICE_PORT_HTTP"] == "80" and env["WEB_SERVICE_PORT_DNS"] == "53"
    assert env["WEB_PORT_53_UDP"] == "udp://10.43.0.12:53" and env["WEB_PORT_53_UDP_PROTO"] == "udp"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert not any(k.startswith(("HIDDEN_", "HEADLESS_")) for k in env)


def test_service_links_disabled_keeps_only_kubernetes() -> None:
    env = service_env([svc("app", "web", "10.43.0.12", ("", 80, "TCP")),
                       svc("default", "kubernetes", "10.43.0.1", ("https", 443, "TCP"))], "app",
                      enable_service_links=False)
    assert "WEB_SERVICE_HOST" not in env and env["KUBERNETES_SERVICE_PORT"] == "443"

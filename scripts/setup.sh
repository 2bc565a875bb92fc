#!/usr/bin/env bash
# Idempotent setup: the Python venv with shoal and its dev tools, and, as root,
# the system packages shoal's tests use for real (etcd, podman + runc).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    need=()
    command -v etcd >/dev/null || need+=(etcd-server etcd-client)
    command -v podman >/dev/null || need+=(podman)
    command -v runc >/dev/null || need+=(runc)
    [ -d /usr/lib/cni ] || need+=(containernetworking-plugins)
    command -v busybox >/dev/null || need+=(busybox-static)
    command -v iptables >/dev/null || need+=(iptables)
    command -v nft >/dev/null || need+=(nftables)
    command -v wrk >/dev/null || need+=(wrk)  # bench/network_bench.py's load generator
    command -v haproxy >/dev/null || need+=(haproxy)        # the ingress proxy
    command -v nginx >/dev/null || need+=(nginx-light)      # measured beside haproxy for ingress
    command -v prometheus >/dev/null || need+=(prometheus)  # scrapes shoal in the metrics tests
    command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)  # the UI's browser tests
    [ -x /usr/bin/catatonit ] || [ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
    if [ ${#need[@]} -gt 0 ]; then
        echo "setup: installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if command -v podman >/dev/null; then
        # This sandbox: crun refuses hybrid cgroups, and the hard limits are low; derive the
        # ulimits from this machine (a container cannot get more processes than pid_max).
        mkdir -p /etc/containers
        nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
        [ "$nofile" = unlimited ] && nofile=1048576
        [ "$nproc" = unlimited ] && nproc=1048576
        pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo "$nproc")
        [ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
        conf="[containers]
default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]
[engine]
runtime = \"runc\""
        if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$conf" ]; then
            printf '%s\n' "$conf" > /etc/containers/containers.conf
        fi
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
stamp="$VENV/.shoal-deps"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e '.[dev]'
    touch "$stamp"
fi

# A small local image for tests and examples (no registry is reachable here).
if [ "$(id -u)" = 0 ] && command -v podman >/dev/null && command -v busybox >/dev/null; then
    if ! podman image exists localhost/busybox:test 2>/dev/null; then
        tmp=$(mktemp -d)
        mkdir -p "$tmp/r/bin" "$tmp/r/www" "$tmp/r/tmp"
        cp "$(command -v busybox)" "$tmp/r/bin/"
        for c in sh httpd wget nc sleep ls cat echo env hostname nslookup true false ps kill id; do ln -sf busybox "$tmp/r/bin/$c"; done
        echo hello > "$tmp/r/www/index.html"
        tar -C "$tmp/r" -cf "$tmp/busybox.tar" .
        podman import -q "$tmp/busybox.tar" localhost/busybox:test >/dev/null
        rm -rf "$tmp"
    fi
fi
echo "setup: ok"

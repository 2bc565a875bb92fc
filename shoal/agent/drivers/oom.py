"""Was a container OOM-killed? Ask the kernel when the engine does not know.

Podman on cgroup v1 (this sandbox) reports exit 137 but ``OOMKilled: false``
for a container the memory cgroup killed. The kernel's log says it exactly:
``oom-kill:... oom_memcg=/libpod_parent/libpod-<container id>``. For a local
engine, a 137 exit of a container with a memory limit is checked against
``/dev/kmsg`` (read without blocking, only then), so the pod shows OOMKilled
as it should.
"""

from __future__ import annotations

import contextlib
import os


def kernel_oom_killed(container_id: str, *, kmsg: str = "/dev/kmsg") -> bool:
    """True when the kernel log records an OOM kill in this container's memory cgroup."""
    if len(container_id) < 12:
        return False
    try:
        fd = os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    found = False
    try:
        while True:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; carry on
                continue
            if not rec:
                break
            if b"oom" in rec and container_id.encode() in rec:
                found = True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return found

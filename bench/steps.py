"""What the compat benchmarks (Swarm, Marathon, ECS) share: wait for a condition, run a CLI."""

from __future__ import annotations

import subprocess
import time
from typing import Any


def until(cond: Any, timeout: float = 120, step: float = 0.05) -> None:
    """Poll ``cond()`` every ``step`` seconds until it is truthy; RuntimeError past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(step)


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """A command's stdout; RuntimeError with its stderr when it fails."""
    p = subprocess.run(args, capture_output=True, text=True, env=env, input=stdin, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{args}: {p.stderr}")
    return p.stdout

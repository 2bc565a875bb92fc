"""Raw write rate of a Store backend: N concurrent writers creating keys.

This is the ceiling under the API benchmark (API creates/s can't beat it), so
the API benchmark imports ``raw_write_rate`` to report both side by side.
Run as a script for a quick reading:

    .venv/bin/python bench/store_raw.py [--n 5000] [--concurrency 32] [--etcd 127.0.0.1:2379]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `shoal` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shoal.store.base import Store


async def raw_write_rate(
    store: Store, *, concurrency: int = 32, n: int = 5000, value_size: int = 1500
) -> float:
    """Creates per second for ``n`` creates of ``value_size`` bytes by ``concurrency`` writers.

    ``store`` must be started. Keys go under a fresh prefix and are left in place.
    """
    if concurrency < 1 or n < 1 or value_size < 0:
        raise ValueError("concurrency and n must be >= 1, value_size >= 0")
    prefix = f"/bench/raw/{uuid.uuid4().hex}/"
    value = b"x" * value_size
    next_index = iter(range(n))

    async def writer() -> None:
        for i in next_index:  # shared iterator: writers take the next free index
            await store.create(f"{prefix}{i:08d}", value)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def _main(args: argparse.Namespace) -> None:
    from shoal.store.etcd import EtcdStore
    from shoal.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, Store]] = [
            ("sqlite (NORMAL)", SqliteStore(Path(tmp) / "normal.db")),
            ("sqlite (FULL)", SqliteStore(Path(tmp) / "full.db", synchronous="FULL")),
        ]
        if args.etcd:
            backends.append((f"etcd {args.etcd}", EtcdStore(args.etcd.split(","))))
        for name, store in backends:
            await store.start()
            try:
                rate = await raw_write_rate(
                    store, concurrency=args.concurrency, n=args.n, value_size=args.value_size
                )
            finally:
                await store.close()
            print(
                f"{name:<28} {rate:10.0f} creates/s  ({args.n} x {args.value_size} B, "
                f"{args.concurrency} writers)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--value-size", type=int, default=1500)
    parser.add_argument("--etcd", metavar="HOST:PORT[,HOST:PORT]", help="also measure this etcd")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()

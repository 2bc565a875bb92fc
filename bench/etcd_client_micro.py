"""What one etcd call costs the calling process: grpc.aio against the sync stack's futures and others.

    .venv/bin/python bench/etcd_client_micro.py [--calls 3000] [--rounds 3] [--events 3000] [--tls]

Starts a throwaway etcd (``tests/etcd_fixture.start_etcd``; ``--tls``: one
member as ``shoal server --cluster-init`` runs it, client certificates and all)
and measures, in this process, the CPU (user + system of the whole process,
every thread: gRPC's own threads included) and the event loop thread's own CPU
per unary create Txn of a 4.7 KB value (the size the API stores a pod at) with
32 concurrent callers, for each way of calling from asyncio, alternated round
by round so that load on the shared machine falls on all of them alike:

* ``aio``: the grpc.aio stub, as ``EtcdStore`` calls it;
* ``aio-no-retries`` / ``aio-throughput``: the same on a channel with gRPC's
  retry machinery off / ``grpc.optimization_target=throughput``;
* ``future``: the synchronous stub's ``.future()``, its done-callback waking the
  event loop with ``loop.call_soon_threadsafe`` (one wake-up per call);
* ``future-batched``: the same, but the callbacks queue their results and wake
  the loop only when no wake-up is already pending (one per burst);
* ``aio-direct``: grpc.aio's Cython call without its Python ``UnaryUnaryCall``
  object and Task (private API: measured only to bound what that layer costs);
* ``blocking-pool``: the sync stub's blocking call on 32 threads;
* ``no-call``: no gRPC at all, the harness's own cost.

``--events``: the CPU this process spends per event following a watch while a
child process writes (32 callers, 4.7 KB): the aio stream read in the event
loop, the same read through the Cython call directly, and the sync stream read
on a thread that hands each response's events to the loop.

Findings (docs/benchmarks.md, "gRPC aio against the sync stack"): grpc.aio was
the cheapest supported way in every run; the per-call cost is mostly gRPC
core's own work, which runs inline on the calling thread whatever the API.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import grpc  # type: ignore[import-untyped]  # noqa: E402
from aetcd import rpc  # noqa: E402
from aetcd.rpc import rpc_pb2_grpc  # noqa: E402

from shoal.store.etcd import _event  # noqa: E402
from tests.etcd_fixture import start_etcd  # noqa: E402

VALUE = b"x" * 4700
CONCURRENCY = 32
OPTIONS = [("grpc.max_receive_message_length", 2**31 - 1)]
_CREDS: Any = None  # TLS channel credentials with --tls
_ONLY: list[str] = []  # --only: the candidates to run (all when empty)
_CERT_FILES: list[str] = []  # and the CA, key and certificate files, for the watch part's writer


def _channels(endpoint: str, extra: tuple[tuple[str, Any], ...] = ()) -> tuple[Any, Any]:
    """(grpc.aio channel, sync channel) to ``endpoint``, plain or TLS."""
    options = [*OPTIONS, *extra]
    if _CREDS is None:
        return rpc.insecure_channel(endpoint, options=options), grpc.insecure_channel(endpoint, options=options)
    return (rpc.secure_channel(endpoint, _CREDS, options=options),
            grpc.secure_channel(endpoint, _CREDS, options=options))


def _create(key: bytes) -> Any:
    return rpc.TxnRequest(
        compare=[rpc.Compare(key=key, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0)],
        success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=VALUE))],
    )


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


class _Waker:
    """Settle asyncio futures from gRPC's threads with one loop wake-up per burst."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready: collections.deque[tuple[asyncio.Future[Any], Any]] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, fut: asyncio.Future[Any], call: Any) -> None:
        self._ready.append((fut, call))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        while self._ready:
            fut, call = self._ready.popleft()
            _settle(fut, call)


def _settle(fut: asyncio.Future[Any], call: Any) -> None:
    if fut.done():
        return
    exc = call.exception()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(call.result())


def _future_caller(method: Any, waker: _Waker | None) -> Callable[[Any], Awaitable[Any]]:
    async def call(request: Any) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        gf = method.future(request, timeout=2.5)
        if waker is None:
            gf.add_done_callback(lambda c: loop.call_soon_threadsafe(_settle, fut, c))
        else:
            gf.add_done_callback(lambda c: waker.post(fut, c))
        return await fut

    return call


def _direct_caller(channel: Any, method: bytes, deserialize: Any) -> Callable[[Any], Awaitable[Any]]:
    """grpc.aio's own Cython call, without its Python ``UnaryUnaryCall`` and Task (private API)."""
    from grpc._cython import cygrpc  # type: ignore[import-untyped]
    from grpc.aio._call import _create_rpc_error

    core = channel._channel

    async def call(request: Any) -> Any:
        c = core.call(method, time.time() + 2.5, None, None, 0)
        data = await c.unary_unary(request.SerializeToString(), (), cygrpc.build_census_context())
        if c.is_ok():
            return deserialize(data)
        raise _create_rpc_error(c._initial_metadata, c._status)

    return call


def _pool_caller(method: Any) -> Callable[[Any], Awaitable[Any]]:
    """The sync stub's blocking call on a pool of 32 threads (``run_in_executor``)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(CONCURRENCY)

    async def call(request: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, lambda: method(request, timeout=2.5))

    return call


async def _no_call(request: Any) -> Any:
    """No gRPC at all: the harness's own cost (build and serialize the request, parse an answer)."""
    request.SerializeToString()
    await asyncio.sleep(0)
    return rpc.TxnResponse.FromString(_CANNED)


_CANNED = rpc.TxnResponse(succeeded=True, header=rpc.ResponseHeader(revision=12345)).SerializeToString()


async def _unary_round(call: Callable[[Any], Awaitable[Any]], prefix: bytes, n: int) -> tuple[float, float, float]:
    async def worker(i: int) -> None:
        for j in range(i, n, CONCURRENCY):
            resp = await call(_create(prefix + b"%08d" % j))
            assert resp.succeeded

    cpu0, loop0, t0 = _cpu(), time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    return _cpu() - cpu0, time.thread_time() - loop0, time.perf_counter() - t0


async def unary(endpoint: str, calls: int, rounds: int) -> None:
    aio_channel, sync_channel = _channels(endpoint)
    noretry_channel, _ = _channels(endpoint, (("grpc.enable_retries", 0),))
    throughput_channel, _ = _channels(endpoint, (("grpc.optimization_target", "throughput"),))
    noretry_stub, throughput_stub = rpc_pb2_grpc.KVStub(noretry_channel), rpc_pb2_grpc.KVStub(throughput_channel)
    aio_stub = rpc_pb2_grpc.KVStub(aio_channel)
    sync_stub = rpc_pb2_grpc.KVStub(sync_channel)
    waker = _Waker(asyncio.get_running_loop())
    candidates: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "aio": lambda r: aio_stub.Txn(r, timeout=2.5),
        "aio-no-retries": lambda r: noretry_stub.Txn(r, timeout=2.5),
        "aio-throughput": lambda r: throughput_stub.Txn(r, timeout=2.5),
        "future": _future_caller(sync_stub.Txn, None),
        "future-batched": _future_caller(sync_stub.Txn, waker),
        "aio-direct": _direct_caller(aio_channel, b"/etcdserverpb.KV/Txn", rpc.TxnResponse.FromString),
        "blocking-pool": _pool_caller(sync_stub.Txn),
        "no-call": _no_call,
    }
    if _ONLY:
        candidates = {name: call for name, call in candidates.items() if name in _ONLY}
    for name, call in candidates.items():  # warm up: connections, code paths
        await _unary_round(call, f"/warm/{name}/".encode(), 320)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in candidates}

    def show(label: str, cpu: float, loop_cpu: float, wall: float, n: int) -> None:
        print(f"  {label:24} {cpu / n * 1e6:5.0f} µs CPU/call, {loop_cpu / n * 1e6:5.0f} on the event loop, "
              f"{n / wall:6.0f} calls/s", flush=True)

    for r in range(rounds):
        for name, call in candidates.items():
            cpu, loop_cpu, wall = await _unary_round(call, f"/u/{r}/{name}/".encode(), calls)
            results[name].append((cpu, loop_cpu, wall))
            show(f"round {r + 1} {name}", cpu, loop_cpu, wall, calls)
    print(f"unary create Txn, 4.7 KB, {CONCURRENCY} callers, {calls} calls x {rounds} rounds:")
    for name, runs in results.items():
        show(name, *(sum(run[i] for run in runs) for i in range(3)), calls * rounds)
    await aio_channel.close()
    sync_channel.close()


_WRITER = """
import sys, threading, grpc
from aetcd.rpc import rpc_pb2_grpc
from aetcd import rpc
endpoint, prefix, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
if len(sys.argv) > 4:  # TLS: CA, key, certificate files
    ca, key, cert = (open(path, "rb").read() for path in sys.argv[4:7])
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    channel = grpc.secure_channel(endpoint, creds)
else:
    channel = grpc.insecure_channel(endpoint)
stub = rpc_pb2_grpc.KVStub(channel)
slots = threading.Semaphore(32)
for j in range(n):
    slots.acquire()
    stub.Put.future(rpc.PutRequest(key=prefix + b"%08d" % j, value=b"x" * 4700)).add_done_callback(
        lambda f: slots.release())
for _ in range(32):
    slots.acquire()
"""


def _start_writer(endpoint: str, prefix: str, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _WRITER, endpoint, prefix, str(n), *_CERT_FILES],
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _watch_create(prefix: bytes) -> Any:
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    return rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=prefix, range_end=end, prev_kv=True))


async def _watch_aio(channel: Any, prefix: bytes, n: int, started: asyncio.Event) -> None:
    call = rpc_pb2_grpc.WatchStub(channel).Watch()
    await call.write(_watch_create(prefix))
    seen = 0
    async for resp in call:
        if resp.created:
            started.set()
        seen += len([_event(e) for e in resp.events])
        if seen >= n:
            break
    call.cancel()


async def _watch_aio_direct(channel: Any, prefix: bytes, n: int, started: asyncio.Event) -> None:
    """grpc.aio's stream, its messages read with the Cython call's own read (private API)."""
    from grpc._cython import cygrpc

    call = rpc_pb2_grpc.WatchStub(channel).Watch()
    await call.write(_watch_create(prefix))
    core = call._cython_call
    seen = 0
    while seen < n:
        raw = await core.receive_serialized_message()
        if raw is cygrpc.EOF:
            break
        resp = rpc.WatchResponse.FromString(raw)
        if resp.created:
            started.set()
        seen += len([_event(e) for e in resp.events])
    call.cancel()


async def _watch_thread(channel: Any, prefix: bytes, n: int, started: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[Any] | None] = asyncio.Queue()
    stop = threading.Event()

    def requests() -> Any:
        yield _watch_create(prefix)
        stop.wait()

    call = rpc_pb2_grpc.WatchStub(channel).Watch(requests())

    def follow() -> None:
        try:
            for resp in call:
                if resp.created:
                    loop.call_soon_threadsafe(started.set)
                if resp.events:
                    loop.call_soon_threadsafe(queue.put_nowait, [_event(e) for e in resp.events])
        except grpc.RpcError:
            pass
        loop.call_soon_threadsafe(queue.put_nowait, None)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    seen = 0
    while seen < n:
        batch = await queue.get()
        if batch is None:
            break
        seen += len(batch)
    stop.set()
    call.cancel()
    await asyncio.to_thread(thread.join)


async def watch(endpoint: str, events: int, rounds: int) -> None:
    aio_channel, sync_channel = _channels(endpoint)
    candidates = {"aio": (_watch_aio, aio_channel), "aio-direct": (_watch_aio_direct, aio_channel),
                  "sync-thread": (_watch_thread, sync_channel)}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
    for r in range(rounds):
        for name, (follow, channel) in candidates.items():
            prefix = f"/w/{r}/{name}/".encode()
            started = asyncio.Event()
            task = asyncio.create_task(follow(channel, prefix, events, started))
            await started.wait()
            cpu0, loop0 = _cpu(), time.thread_time()
            writer = _start_writer(endpoint, prefix.decode(), events)
            await asyncio.wait_for(task, 120)  # a writer that died would leave it waiting
            cpu, loop_cpu = _cpu() - cpu0, time.thread_time() - loop0
            await asyncio.to_thread(writer.wait)
            results[name].append((cpu, loop_cpu))
            print(f"  round {r + 1} {name:12} {cpu / events * 1e6:5.0f} µs CPU/event, "
                  f"{loop_cpu / events * 1e6:5.0f} on the event loop", flush=True)
    print(f"watch, {events} live events of 4.7 KB x {rounds} rounds (this process, the writer not counted):")
    for name, runs in results.items():
        cpu, loop_cpu = sum(c for c, _ in runs), sum(lc for _, lc in runs)
        print(f"  {name:12} {cpu / (events * rounds) * 1e6:5.0f} µs CPU/event, "
              f"{loop_cpu / (events * rounds) * 1e6:5.0f} on the event loop")
    await aio_channel.close()
    sync_channel.close()


def _start_tls_etcd(tmp: Path) -> tuple[str, Any, Callable[[], None]]:
    """A single TLS member as ``shoal server --cluster-init`` runs it: (endpoint, credentials, stop)."""
    from shoal.datadir import DataDir
    from shoal.etcdmember.certs import ensure_member_cert, tls_bytes
    from shoal.etcdmember.member import etcd_binary
    from shoal.etcdmember.plan import MemberSpec, etcd_command
    from tests.etcd_fixture import free_port

    dd = DataDir(tmp / "server").ensure()
    spec = MemberSpec("micro", tmp / "server" / "etcd", "127.0.0.1", free_port(), free_port())
    certs = ensure_member_cert(dd, spec.data_dir, name=spec.name, host=spec.host)
    cmd = etcd_command(etcd_binary(), spec, certs, cluster=f"micro={spec.peer_url}", state="new")
    log = open(tmp / "etcd.log", "ab")  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ca, key, cert = tls_bytes(certs)
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    with grpc.secure_channel(spec.endpoint, creds) as channel:
        rpc_pb2_grpc.KVStub(channel).Range(rpc.RangeRequest(key=b"\0", count_only=True), timeout=20,
                                           wait_for_ready=True)

    def stop() -> None:
        proc.terminate()
        proc.wait()
        log.close()

    _CERT_FILES[:] = [str(certs.ca), str(certs.key), str(certs.cert)]
    return spec.endpoint, creds, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=3000, help="0: skip the watch part")
    parser.add_argument("--tls", action="store_true", help="a TLS member with client certificates, as embedded")
    parser.add_argument("--only", action="append", default=[], help="run only this unary candidate (repeatable)")
    args = parser.parse_args()
    _ONLY[:] = args.only
    global _CREDS
    with tempfile.TemporaryDirectory(prefix="shoal-etcd-micro-") as tmp:
        if args.tls:
            endpoint, _CREDS, stop = _start_tls_etcd(Path(tmp))
        else:
            endpoint, stop = start_etcd(Path(tmp))
        try:
            print(f"load average before: {os.getloadavg()}")
            asyncio.run(unary(endpoint, args.calls, args.rounds))
            if args.events:
                asyncio.run(watch(endpoint, args.events, args.rounds))
            print(f"load average after: {os.getloadavg()}")
        finally:
            stop()


if __name__ == "__main__":
    main()

"""The clustered store: etcd v3 through ``aetcd``'s gRPC channel and stubs.

The Store protocol is etcd's own model, so this module is mostly translation:

* ``create`` is a transaction "create_revision == 0 -> put"; ``update`` and
  ``delete`` compare ``mod_revision`` (or ``create_revision > 0`` when
  unconditional) and read the key on failure to tell NotFound from Conflict;
* ``list`` is a range over the prefix with etcd's own ``limit``/``revision``
  and ``more``; ``start_after`` becomes the range start ``start_after + "\\0"``;
* ``watch`` opens its own gRPC watch stream from ``from_revision + 1`` and, on
  a broken stream, reconnects (to another endpoint if need be) from the
  revision after the last event it delivered, so callers see neither gaps nor
  duplicates.

aetcd's high-level methods lack range limits/revisions and its shared watcher
hides compaction errors, so the request messages are built directly with
``aetcd.rpc`` and sent on the client's stubs; aetcd still owns the channel.

TLS: given ``tls`` (CA, client key, client certificate as PEM bytes: the
embedded etcd's, ``shoal.etcdmember``) the channel is a secure one with that
client certificate; aetcd itself only opens plain channels.

Endpoints: one aetcd client talks to one endpoint. The store uses the first
endpoint that answers and moves to the next one that answers when a call
fails with UNAVAILABLE, retrying that call once per endpoint. (Such a retried
write may in rare cases have been applied already: a retried create then
reports KeyExistsError, a retried update a conflict; callers re-read.)

Writes wait ``write_timeout`` (2.5 s), reads ``timeout`` (5 s): a write that
reached a follower just as etcd's leader died is dropped by raft, and etcd
answers it only at its own request timeout (5 s + 2 election timeouts), so
without a shorter deadline such a write held its client past the 5 s of a
failover (issue 19: the killed server's member was etcd's leader). By 2.5 s
a new leader has long been elected (election timeout 0.5-1 s on embedded
members) and a write still unanswered has been lost: the caller gets a 503
(unknown outcome, as any timed-out write) and its retry goes through.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aetcd
from aetcd import rpc

from shoal.store.base import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)

_CHANNEL_OPTIONS = {
    # A list of 10,000 objects is far above gRPC's 4 MiB default.
    "grpc.max_receive_message_length": 2**31 - 1,
    # Notice a dead connection under an idle watch (etcd accepts pings >= 5 s apart).
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
}


def parse_endpoints(endpoints: Sequence[str]) -> list[tuple[str, int]]:
    """``["h:p", "http://h:p", ...]`` -> ``[(h, p), ...]``; ValueError on bad input."""
    parsed = []
    for raw in endpoints:
        text = raw.strip()
        for scheme in ("http://", "etcd://"):
            text = text.removeprefix(scheme)
        host, sep, port = text.rstrip("/").rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad etcd endpoint {raw!r}: expected HOST:PORT")
        parsed.append((host.strip("[]"), int(port)))
    if not parsed:
        raise ValueError("no etcd endpoint given")
    return parsed


def _range_end(prefix: bytes) -> bytes:
    """etcd's range end for a prefix (``b"\\0"`` = to the end of the keyspace)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _kv(pb: Any) -> KeyValue:
    return KeyValue(
        bytes(pb.key).decode(), bytes(pb.value), int(pb.create_revision), int(pb.mod_revision)
    )


def _event(pb: Any) -> WatchEvent:
    prev = _kv(pb.prev_kv) if pb.HasField("prev_kv") else None
    if pb.type == rpc.Event.DELETE:
        kv = KeyValue(
            bytes(pb.kv.key).decode(),
            prev.value if prev else b"",
            prev.create_revision if prev else 0,
            int(pb.kv.mod_revision),
        )
        return WatchEvent("DELETE", kv, prev)
    return WatchEvent("PUT", _kv(pb.kv), prev)


def _is_compacted(exc: Any) -> bool:
    return "required revision has been compacted" in (exc.details() or "")


def _is_electing(exc: Any) -> bool:
    """etcd's answers (UNAVAILABLE) while its members have no leader."""
    details = exc.details() or ""
    return "no leader" in details or "leader changed" in details


def _is_future(exc: Any) -> bool:
    return "required revision is a future revision" in (exc.details() or "")


class EtcdStore:
    """The ``Store`` protocol on an etcd v3 cluster. See the module docstring."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        write_timeout: float = 2.5,
        watch_retry: float = 30.0,
        tls: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        self._endpoints = parse_endpoints(endpoints)
        self._tls = tls
        self._timeout = timeout
        self._write_timeout = write_timeout
        self._watch_retry = watch_retry
        self._clients: dict[int, Any] = {}
        self._current = 0
        self._switch_lock = asyncio.Lock()
        self._open = False

    @property
    def endpoint(self) -> str:
        """The endpoint currently in use, as ``host:port``."""
        host, port = self._endpoints[self._current]
        return f"{host}:{port}"

    # -- connection management ----------------------------------------------

    async def start(self) -> None:
        if self._open:
            return
        self._current = len(self._endpoints) - 1
        self._open = True
        try:
            await self._switch(self._current, include_failed=True)
        except StoreUnavailableError:
            self._open = False
            await self._close_clients()
            raise

    async def close(self) -> None:
        self._open = False
        await self._close_clients()

    async def _close_clients(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):  # closing is best effort
                await client.close()

    async def _client_at(self, index: int) -> Any:
        client = self._clients.get(index)
        if client is None:
            host, port = self._endpoints[index]
            client = aetcd.Client(host=host, port=port, options=_CHANNEL_OPTIONS)
            if self._tls is not None:
                connect_tls(client, f"{host}:{port}", self._tls)
            else:
                await client.connect()
            self._clients[index] = client
        return client

    async def _switch(self, failed: int, *, include_failed: bool = True) -> None:
        """Make the first endpoint after ``failed`` that answers the current one."""
        async with self._switch_lock:
            if self._current != failed:
                return  # another caller already moved on
            count = len(self._endpoints)
            last = count if include_failed else count - 1
            errors = []
            for step in range(1, last + 1):
                index = (failed + step) % count
                try:
                    client = await self._client_at(index)
                    # wait_for_ready: a channel in reconnect back-off (an etcd that just
                    # restarted) gets the whole timeout to come back instead of failing at once
                    await client.kvstub.Range(
                        rpc.RangeRequest(key=b"\0", count_only=True), timeout=self._timeout,
                        wait_for_ready=True,
                    )
                except (rpc.AioRpcError, aetcd.ClientError, OSError) as exc:
                    errors.append(f"{self._endpoints[index][0]}:{self._endpoints[index][1]}: {exc}")
                    continue
                self._current = index
                return
            raise StoreUnavailableError("no etcd endpoint answers: " + "; ".join(errors))

    def _ensure_open(self) -> None:
        if not self._open:
            raise StoreUnavailableError("store is not open")

    async def _call(self, method: str, request: Any, *, revision: int = 0) -> Any:
        """Send one unary KV request, failing over on UNAVAILABLE (writes with the shorter deadline)."""
        timeout = self._write_timeout if method == "Txn" else self._timeout
        self._ensure_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        attempt = 0
        while True:
            index = self._current
            client = self._clients.get(index) or await self._client_at(index)
            try:
                return await getattr(client.kvstub, method)(request, timeout=max(0.05, deadline - loop.time()))
            except rpc.AioRpcError as exc:
                retry = exc.code() == rpc.StatusCode.UNAVAILABLE and self._open
                if retry and _is_electing(exc) and loop.time() + 0.05 < deadline:
                    # the member is alive and its cluster is electing a leader: ask it again shortly (moving
                    # to another endpoint could mean waiting out one that is down, which is often why)
                    await asyncio.sleep(0.05)
                    continue
                if not retry or attempt == len(self._endpoints):
                    raise await self._translate(exc, revision=revision) from exc
            attempt += 1
            await self._switch(index, include_failed=len(self._endpoints) == 1)
            deadline = loop.time() + timeout  # the call on the endpoint switched to gets the whole deadline

    async def _translate(self, exc: Any, *, revision: int) -> StoreError:
        if _is_compacted(exc):
            return CompactedError(await self.compacted_revision())
        if _is_future(exc):
            return FutureRevisionError(revision, await self.current_revision())
        code = exc.code()
        if not self._open:
            return StoreUnavailableError("store closed")
        if code in (rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED):
            return StoreUnavailableError(f"etcd {self.endpoint}: {exc.details()}")
        return StoreError(f"etcd {self.endpoint}: {code.name}: {exc.details()}")

    # -- reads ---------------------------------------------------------------

    async def current_revision(self) -> int:
        resp = await self._call("Range", rpc.RangeRequest(key=b"\0", count_only=True))
        return int(resp.header.revision)

    async def compacted_revision(self) -> int:
        self._ensure_open()
        client = self._clients[self._current]
        try:
            await client.kvstub.Range(
                rpc.RangeRequest(key=b"\0", count_only=True, revision=1), timeout=self._timeout
            )
            return 0
        except rpc.AioRpcError as exc:
            if not _is_compacted(exc):
                raise StoreUnavailableError(f"etcd {self.endpoint}: {exc.details()}") from exc
        # etcd tells the compacted revision only to a watch that starts below it.
        call = rpc.WatchStub(client.channel).Watch(timeout=self._timeout)
        try:
            create = rpc.WatchCreateRequest(key=b"\0", start_revision=1)
            await call.write(rpc.WatchRequest(create_request=create))
            async for resp in call:
                if resp.compact_revision:
                    return int(resp.compact_revision)
                if resp.canceled:
                    break
        except rpc.AioRpcError as exc:
            raise StoreUnavailableError(f"etcd {self.endpoint}: {exc.details()}") from exc
        finally:
            call.cancel()
        raise StoreError("etcd did not report its compacted revision")

    async def get(self, key: str) -> KeyValue | None:
        resp = await self._call("Range", rpc.RangeRequest(key=_encode(key)))
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 0,
        revision: int = 0,
    ) -> tuple[builtins.list[KeyValue], int, bool]:
        if limit < 0 or revision < 0:
            raise ValueError("limit and revision must be >= 0")
        start = prefix.encode() or b"\0"
        end = _range_end(prefix.encode())
        if start_after is not None:
            start = max(start, start_after.encode() + b"\0")
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit, revision=revision)
        resp = await self._call("Range", request, revision=revision)
        items = [_kv(kv) for kv in resp.kvs]
        return items, revision or int(resp.header.revision), bool(resp.more)

    async def count(self, prefix: str) -> int:
        start = prefix.encode() or b"\0"
        request = rpc.RangeRequest(
            key=start, range_end=_range_end(prefix.encode()), count_only=True
        )
        resp = await self._call("Range", request)
        return int(resp.count)

    # -- writes --------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        k = _encode(key)
        request = rpc.TxnRequest(
            compare=[
                rpc.Compare(
                    key=k, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0
                )
            ],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=_bytes(value)))],
        )
        resp = await self._call("Txn", request)
        if not resp.succeeded:
            raise KeyExistsError(key)
        return int(resp.header.revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        k = _encode(key)
        request = rpc.TxnRequest(
            compare=[_precondition(k, expected_revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=_bytes(value)))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call("Txn", request)
        if not resp.succeeded:
            _raise_failed(key, resp)
        return int(resp.header.revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        k = _encode(key)
        request = rpc.TxnRequest(
            compare=[_precondition(k, expected_revision)],
            success=[
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))
            ],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call("Txn", request)
        if not resp.succeeded:
            _raise_failed(key, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(
            key, bytes(prev.value), int(prev.create_revision), int(resp.header.revision)
        )

    async def compact(self, revision: int) -> None:
        if revision < 0:
            raise ValueError("revision must be >= 0")
        try:
            await self._call("Compact", rpc.CompactionRequest(revision=revision), revision=revision)
        except CompactedError:
            return  # already compacted at or past `revision`: nothing to do

    # -- watch ---------------------------------------------------------------

    def watch(
        self, prefix: str, *, from_revision: int
    ) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        if from_revision < 0:
            raise ValueError("from_revision must be >= 0")
        return self._watch(prefix, from_revision)

    async def _watch(
        self, prefix: str, from_revision: int
    ) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        self._ensure_open()
        start, end = prefix.encode() or b"\0", _range_end(prefix.encode())
        next_rev = from_revision + 1
        failing_since: float | None = None
        retryable = (
            rpc.StatusCode.UNAVAILABLE,
            rpc.StatusCode.INTERNAL,
            rpc.StatusCode.UNKNOWN,
            rpc.StatusCode.DEADLINE_EXCEEDED,
        )
        while True:
            self._ensure_open()
            index = self._current
            client = self._clients.get(index) or await self._client_at(index)
            call = rpc.WatchStub(client.channel).Watch()
            try:
                create = rpc.WatchCreateRequest(
                    key=start, range_end=end, start_revision=next_rev, prev_kv=True
                )
                await call.write(rpc.WatchRequest(create_request=create))
                async for resp in call:
                    if resp.compact_revision:
                        raise CompactedError(int(resp.compact_revision))
                    if resp.canceled:
                        raise StoreError(f"etcd cancelled the watch: {resp.cancel_reason}")
                    if resp.created:
                        failing_since = None
                    if resp.events:
                        batch = [_event(e) for e in resp.events]
                        next_rev = batch[-1].kv.mod_revision + 1
                        yield batch
            except rpc.AioRpcError as exc:
                if not self._open:
                    raise StoreUnavailableError("store closed") from exc
                if exc.code() not in retryable:
                    raise await self._translate(exc, revision=next_rev) from exc
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self._watch_retry:
                    raise StoreUnavailableError(
                        f"etcd watch failed for {self._watch_retry:.0f}s: {exc.details()}"
                    ) from exc
            finally:
                call.cancel()
            # The stream broke or ended: back off briefly, then resume elsewhere if need be.
            await asyncio.sleep(0.2)
            with contextlib.suppress(StoreUnavailableError):
                await self._switch(index)


def connect_tls(client: Any, target: str, tls: tuple[bytes, bytes, bytes]) -> None:
    """What ``aetcd.Client.connect`` does, on a TLS channel with a client certificate."""
    import grpc  # type: ignore[import-untyped]
    from aetcd import watcher

    ca, key, cert = tls
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    client.channel = rpc.secure_channel(target, creds, options=list(_CHANNEL_OPTIONS.items()))
    client.kvstub = rpc.KVStub(client.channel)
    client.clusterstub = rpc.ClusterStub(client.channel)
    client.leasestub = rpc.LeaseStub(client.channel)
    client.maintenancestub = rpc.MaintenanceStub(client.channel)
    client._watcher = watcher.Watcher(rpc.WatchStub(client.channel), timeout=None, metadata=None)
    client._connected.set()


def _encode(key: str) -> bytes:
    if not key:
        raise ValueError("key must not be empty")
    return key.encode()


def _bytes(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")
    return bytes(value)


def _precondition(key: bytes, expected_revision: int) -> Any:
    if expected_revision < 0:
        raise ValueError("revisions are >= 0")
    if expected_revision:
        return rpc.Compare(
            key=key,
            target=rpc.Compare.MOD,
            result=rpc.Compare.EQUAL,
            mod_revision=expected_revision,
        )
    return rpc.Compare(
        key=key, target=rpc.Compare.CREATE, result=rpc.Compare.GREATER, create_revision=0
    )


def _raise_failed(key: str, resp: Any) -> None:
    kvs = resp.responses[0].response_range.kvs
    if not kvs:
        raise NotFoundError(key)
    raise ConflictError(_kv(kvs[0]))

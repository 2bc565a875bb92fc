"""``pods/log`` and ``pods/exec``: what kubectl sees of a container's streams.

Both check the request against the pod first (node assigned, container named
and known, container started), so every refusal is a proper ``Status`` (404,
400, 503 when the node's agent has no tunnel) before any byte streams. Then
they ask the node's agent, over its tunnel (``shoal.apiserver.tunnel``), to
open the stream, and relay it:

- logs as a chunked ``text/plain`` response, ending when the agent's log reader
  ends (at once without ``follow``; when the container stops with it), when
  ``limitBytes`` is reached, or when the client goes away;
- exec as a WebSocket speaking ``v5.channel.k8s.io`` (or ``v4``): each binary
  message is one channel byte then data -- 0 stdin, 1 stdout, 2 stderr,
  3 error (a JSON ``Status`` sent once, at the end), 4 resize (JSON ``Width``,
  ``Height``) and, in v5 only, 255 "close channel N" (kubectl's stdin EOF).
  client-go reads its streams until the connection closes, so the server sends
  the final Status and then closes the WebSocket normally.

kubectl's SPDY fallback (a plain ``Upgrade: SPDY/3.1``) is served by
``shoal.apiserver.spdyexec`` from the same checks and the same agent stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from shoal.apiserver import bytechannel, errors
from shoal.apiserver.tunnel import AgentTunnel, ServerStream, TunnelError, registry_of

log = logging.getLogger(__name__)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
DISCONNECT_POLL = 1.0  # seconds between checks that a silent log follower is still there


# ---- the entry point ------------------------------------------------------------------
async def node_proxy(request: web.Request, *, pod: dict[str, Any], subresource: str) -> web.StreamResponse:
    """Serve ``pods/{log,exec,attach,portforward}`` for ``pod`` (already read from the store)."""
    if subresource == "log":
        if request.method != "GET":
            raise errors.method_not_allowed()
        return await pod_log(request, pod=pod)
    if subresource == "exec":
        if request.method not in ("GET", "POST"):
            raise errors.method_not_allowed()
        return await pod_exec(request, pod=pod)
    if subresource == "attach":
        if request.method not in ("GET", "POST"):
            raise errors.method_not_allowed()
        return await pod_exec(request, pod=pod, attach=True)
    if subresource == "portforward":
        if request.method not in ("GET", "POST"):
            raise errors.method_not_allowed()
        from shoal.apiserver import portforward

        portforward.check_pod(pod)
        return await portforward.pod_portforward(request, pod=pod, tunnel=tunnel_for(request, pod, subresource))
    raise errors.bad_request(f"pods/{subresource} is not supported by this server")


# ---- checks shared by logs and exec -----------------------------------------------------
def _names(spec: dict[str, Any], key: str) -> list[str]:
    return [str(c.get("name")) for c in spec.get(key) or [] if isinstance(c, dict)]


def pick_container(pod: dict[str, Any], wanted: str | None) -> str:
    """The container a request is about: the named one, or the pod's only container."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    main = _names(spec, "containers")
    init = _names(spec, "initContainers")
    every = main + init + _names(spec, "ephemeralContainers")
    if not wanted:
        if len(main) == 1:
            return main[0]
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]"
        if init:
            msg += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.bad_request(msg)
    if wanted not in every:
        raise errors.bad_request(f"container {wanted} is not valid for pod {name}, choose one of: [{' '.join(every)}]")
    return wanted


def _status_of(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    st = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key) or []:
            if isinstance(cs, dict) and cs.get("name") == container:
                return cs
    return None


def _waiting_message(pod_name: str, container: str, waiting: dict[str, Any]) -> str:
    reason = str(waiting.get("reason") or "")
    if reason == "ErrImagePull":
        why = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        why = "trying and failing to pull image"
    else:
        why = reason or "ContainerCreating"
    return f'container "{container}" in pod "{pod_name}" is waiting to start: {why}'


def check_log_state(pod: dict[str, Any], container: str, *, previous: bool) -> None:
    """Refuse, as the kubelet does, logs of a container that has none yet (by the pod's status)."""
    cs = _status_of(pod, container)
    if cs is None:
        return  # the agent knows better than a status it has not written yet
    name = pod["metadata"]["name"]
    last = (cs.get("lastState") or {}).get("terminated")
    if previous:
        if not last:
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    state = cs.get("state") or {}
    if "waiting" in state and not last:
        raise errors.bad_request(_waiting_message(name, container, state["waiting"] or {}))


def check_exec_state(pod: dict[str, Any], container: str) -> None:
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    cs = _status_of(pod, container)
    if cs is None:
        return
    state = cs.get("state") or {}
    if "waiting" in state:
        raise errors.bad_request(_waiting_message(name, container, state["waiting"] or {}))
    if "terminated" in state:
        reason = (state["terminated"] or {}).get("reason") or "Completed"
        raise errors.bad_request(f'container "{container}" in pod "{name}" is not running (terminated: {reason})')


def tunnel_for(request: web.Request, pod: dict[str, Any], subresource: str) -> AgentTunnel:
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        raise errors.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
    reg = registry_of(request.app)
    tunnel = reg.get(node) if reg is not None else None
    if tunnel is None:
        raise errors.ApiError(
            503, "ServiceUnavailable",
            f'cannot reach the node agent of node "{node}" for pods/{subresource}: no agent tunnel is connected',
        )
    return tunnel


async def _open(tunnel: AgentTunnel, req: dict[str, Any]) -> ServerStream:
    try:
        return await tunnel.open(req)
    except TunnelError as e:
        raise e.api_error() from None


# ---- logs ---------------------------------------------------------------------------------
def _query_int(request: web.Request, name: str) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid integer {v!r}") from None


def _query_bool(request: web.Request, name: str) -> bool:
    v = request.query.get(name, "").lower()
    if v in ("", "0", "false", "no"):
        return False
    if v in ("1", "true", "yes"):
        return True
    raise errors.bad_request(f"{name}: invalid boolean {v!r}")


def log_options(request: web.Request, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """PodLogOptions from the query, validated as upstream does (422 on bad values)."""
    tail = _query_int(request, "tailLines")
    since = _query_int(request, "sinceSeconds")
    limit = _query_int(request, "limitBytes")
    since_time = request.query.get("sinceTime")
    causes = []
    if tail is not None and tail < 0:
        causes.append(_cause("tailLines", tail, "must be greater than or equal to 0"))
    if since is not None and since < 1:
        causes.append(_cause("sinceSeconds", since, "must be greater than 0"))
    if limit is not None and limit < 1:
        causes.append(_cause("limitBytes", limit, "must be greater than 0"))
    if since is not None and since_time:
        causes.append({"field": "", "reason": "FieldValueForbidden",
                       "message": "at most one of `sinceTime` or `sinceSeconds` may be specified"})
    if since_time and since is None:
        try:
            t = dt.datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError:
            causes.append(_cause("sinceTime", since_time, "must be an RFC 3339 time"))
        else:
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.UTC)
            delta = ((now or dt.datetime.now(dt.UTC)) - t).total_seconds()
            since = max(1, int(delta) + 1)
    if causes:
        raise errors.invalid("PodLogOptions", "", causes)
    return {"follow": _query_bool(request, "follow"), "previous": _query_bool(request, "previous"),
            "timestamps": _query_bool(request, "timestamps"), "tail": tail, "sinceSeconds": since,
            "limitBytes": limit}


def _cause(field: str, value: Any, why: str) -> dict[str, str]:
    shown = json.dumps(value) if isinstance(value, str) else value
    return {"field": field, "reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {why}"}


def _client_gone(request: web.Request) -> bool:
    t = request.transport
    return t is None or t.is_closing()


async def pod_log(request: web.Request, *, pod: dict[str, Any]) -> web.StreamResponse:
    opts = log_options(request)
    container = pick_container(pod, request.query.get("container"))
    check_log_state(pod, container, previous=opts["previous"])
    tunnel = tunnel_for(request, pod, "log")
    md = pod["metadata"]
    stream = await _open(tunnel, {
        "op": "logs", "namespace": md.get("namespace"), "pod": md["name"], "uid": md.get("uid"),
        "container": container, "previous": opts["previous"], "follow": opts["follow"],
        "tail": opts["tail"], "sinceSeconds": opts["sinceSeconds"], "timestamps": opts["timestamps"],
    })
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain", "Cache-Control": "no-cache"})
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
        left = opts["limitBytes"]
        while True:
            try:
                item = await asyncio.wait_for(stream.read(), DISCONNECT_POLL)
            except TimeoutError:
                if _client_gone(request):
                    break
                continue
            if item is None:
                break
            data = item[1]
            if left is not None:
                data = data[:left]
                left -= len(data)
            await resp.write(data)
            if left == 0:
                break
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        await stream.close()
    return resp


# ---- exec ---------------------------------------------------------------------------------
def exec_options(request: web.Request, *, attach: bool = False) -> dict[str, Any]:
    command = [c for c in request.query.getall("command", [])]
    if not attach and (not command or not command[0]):
        raise errors.bad_request("you must specify at least one command for the container")
    stdin = _query_bool(request, "stdin")
    stdout = _query_bool(request, "stdout")
    stderr = _query_bool(request, "stderr")
    tty = _query_bool(request, "tty")
    if not (stdin or stdout or stderr):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if tty and stderr:
        stderr = False  # a terminal has one output stream (as the kubelet does)
    return {"command": command, "stdin": stdin, "stdout": stdout, "stderr": stderr, "tty": tty}


def exit_status(code: int | None, *, error: str | None = None, command: list[str] | None = None) -> dict[str, Any]:
    """The Status sent on channel 3 at the end of an exec."""
    if error is not None:
        return {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    if not code:
        return {"metadata": {}, "status": "Success"}
    if code < 0:  # killed by a signal, as a shell reports it
        code = 128 - code
    code = min(code, 255)
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command or []}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def end_status(info: dict[str, Any] | None, opts: dict[str, Any]) -> dict[str, Any]:
    """The Status that ends an exec (or attach) whose agent stream ended with ``info``."""
    info = info or {}
    if opts.get("attach") and "code" in info:
        return exit_status(0)
    if "code" in info:
        return exit_status(int(info["code"]), command=opts["command"])
    return exit_status(None, error=str(info.get("error") or "the exec stream ended"))


async def pod_exec(request: web.Request, *, pod: dict[str, Any], attach: bool = False) -> web.StreamResponse:
    """``pods/exec``, or with ``attach`` ``pods/attach``: the same protocol, the container's own process
    instead of a new one (its end is not the container's: the Status sent is Success)."""
    opts = exec_options(request, attach=attach)
    container = pick_container(pod, request.query.get("container"))
    # every refusal about the pod comes first: kubectl retries a failed WebSocket upgrade
    # over SPDY and shows only that second answer
    check_exec_state(pod, container)
    tunnel = tunnel_for(request, pod, "attach" if attach else "exec")
    md = pod["metadata"]
    agent_request = {
        "op": "attach" if attach else "exec", "namespace": md.get("namespace"), "pod": md["name"], "uid": md.get("uid"),
        "container": container, "previous": False, "command": opts["command"], "tty": opts["tty"],
        "stdin": opts["stdin"],
    }
    if bytechannel.is_spdy_upgrade(request):
        from shoal.apiserver import spdyexec

        return await spdyexec.serve(request, opts={**opts, "attach": attach},
                                    open_stream=lambda: _open(tunnel, agent_request))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        if request.headers.get("Upgrade"):
            raise errors.bad_request(
                f"unable to upgrade connection: {request.headers['Upgrade']} is not supported; "
                f"use a WebSocket with subprotocol {V5} or SPDY/3.1")
        raise errors.bad_request("Upgrade request required")
    ws = web.WebSocketResponse(protocols=(V5, V4), max_msg_size=1024 * 1024, autoping=True)
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol not in (V5, V4):
        raise errors.bad_request(f"unable to upgrade connection: the client must offer subprotocol {V5} or {V4}")
    stream = await _open(tunnel, agent_request)
    try:
        await ws.prepare(request)
        await _relay_exec(ws, stream, opts={**opts, "attach": attach}, v5=ready.protocol == V5)
    finally:
        await stream.close()
    return ws


async def _relay_exec(ws: web.WebSocketResponse, stream: ServerStream, *, opts: dict[str, Any], v5: bool) -> None:
    async def from_client() -> None:
        async for msg in ws:
            # clients may send channel frames as text (the official Python client's write_stdin of a str
            # does): upstream reads both kinds of message the same way
            if msg.type == WSMsgType.TEXT:
                raw = msg.data.encode()
            elif msg.type == WSMsgType.BINARY:
                raw = msg.data
            else:
                continue
            if not raw:
                continue
            ch, data = raw[0], raw[1:]
            if ch == STDIN and opts["stdin"]:
                if data:
                    await stream.write_stdin(data)
            elif ch == RESIZE and opts["tty"]:
                size = _size(data)
                if size is not None:
                    await stream.resize(*size)
            elif ch == CLOSE and v5 and data[:1] == bytes([STDIN]):
                await stream.close_stdin()
        await stream.close()  # the client hung up: stop the process

    reader = asyncio.create_task(from_client(), name="exec-stdin")
    try:
        while (item := await stream.read()) is not None:
            ch, data = item
            if (ch == STDOUT and opts["stdout"]) or (ch == STDERR and opts["stderr"]):
                await ws.send_bytes(bytes([ch]) + data)
        status = end_status(stream.exit, opts)
        if not ws.closed:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
    except (ConnectionError, TunnelError):
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        with contextlib.suppress(Exception):
            await ws.close()


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        v = json.loads(data)
        w, h = int(v.get("Width") or v.get("width") or 0), int(v.get("Height") or v.get("height") or 0)
    except (ValueError, AttributeError, TypeError):
        return None
    if w <= 0 or h <= 0 or w > 10_000 or h > 10_000:
        return None
    return w, h

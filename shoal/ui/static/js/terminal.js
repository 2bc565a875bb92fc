// A terminal on a container: pods/exec over the WebSocket protocol kubectl speaks.
//
// v5.channel.k8s.io (v4 as a fallback): every binary message is one channel
// byte then data -- 0 stdin, 1 stdout, 2 stderr, 3 the final Status (JSON), 4
// resize ({"Width","Height"}), 255 close. A browser cannot set Authorization on
// a WebSocket, so the token rides in the subprotocol list, as upstream accepts it
// ("base64url.bearer.authorization.k8s.io.<token>"). A refused upgrade tells a
// browser nothing, so the same URL is first asked without an upgrade: every
// refusal about the pod (403, 404, a wrong container) comes back as a Status,
// and only "Upgrade request required" means the exec would be accepted.
//
// Screen is a small VT subset (enough for a shell's prompt and line editing):
// printable text, CR, LF, BS, tab, and CSI K/J/C/D/H/m; other sequences are dropped.

import { ApiError, errorFrom, authHeaders, token } from './api.js';

const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;
const MAX_LINES = 2000;

export class Screen {
  constructor() {
    this.lines = [''];
    this.row = 0;
    this.col = 0;
    this.pending = '';
  }

  put(ch) {
    let line = this.lines[this.row];
    if (line.length < this.col) line = line.padEnd(this.col, ' ');
    this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
    this.col++;
  }

  newline() {
    this.row++;
    if (this.row >= this.lines.length) this.lines.push('');
    if (this.lines.length > MAX_LINES) {
      const drop = this.lines.length - MAX_LINES;
      this.lines.splice(0, drop);
      this.row -= drop;
    }
  }

  csi(params, final) {
    const n = Number(params.split(';')[0]) || 0;
    const line = this.lines[this.row];
    if (final === 'K') {
      if (n === 0) this.lines[this.row] = line.slice(0, this.col);
      else if (n === 1) this.lines[this.row] = ' '.repeat(this.col) + line.slice(this.col);
      else this.lines[this.row] = '';
    } else if (final === 'J' && n >= 2) {
      this.lines = [''];
      this.row = 0;
      this.col = 0;
    } else if (final === 'J') {
      this.lines[this.row] = line.slice(0, this.col);
      this.lines.length = this.row + 1;
    } else if (final === 'C') this.col += n || 1;
    else if (final === 'D') this.col = Math.max(0, this.col - (n || 1));
    else if (final === 'H') {
      const [r, c] = params.split(';').map((x) => Number(x) || 1);
      const top = Math.max(0, this.lines.length - 24);
      this.row = Math.min(top + (r || 1) - 1, this.lines.length - 1);
      this.col = (c || 1) - 1;
    }
  }

  write(text) {
    let s = this.pending + text;
    this.pending = '';
    for (let i = 0; i < s.length; i++) {
      const ch = s[i];
      if (ch === '\x1b') {
        const rest = s.slice(i);
        const csi = /^\x1b\[([0-9;?]*)([@-~])/.exec(rest);
        const osc = /^\x1b\][^\x07\x1b]*(\x07|\x1b\\)/.exec(rest);
        const other = /^\x1b[()][0-9A-Za-z]|^\x1b[=>78cDEM]/.exec(rest);
        const m = csi || osc || other;
        if (!m) {
          if (rest.length < 16) this.pending = rest; // a sequence cut by the message boundary
          return;
        }
        if (csi && !csi[1].startsWith('?')) this.csi(csi[1], csi[2]);
        i += m[0].length - 1;
      } else if (ch === '\r') this.col = 0;
      else if (ch === '\n') this.newline();
      else if (ch === '\b') this.col = Math.max(0, this.col - 1);
      else if (ch === '\t') this.col = (Math.floor(this.col / 8) + 1) * 8;
      else if (ch === '\x07') continue;
      else if (ch >= ' ') this.put(ch);
    }
  }

  text() {
    return this.lines.join('\n');
  }
}

// the bytes a key press sends to a terminal
export function keyBytes(ev) {
  const named = { Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b', ArrowUp: '\x1b[A', ArrowDown: '\x1b[B',
    ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D', Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~' };
  if (ev.ctrlKey && !ev.altKey && ev.key.length === 1) {
    const c = ev.key.toUpperCase().charCodeAt(0);
    if (c >= 64 && c <= 95) return String.fromCharCode(c - 64);
    return null;
  }
  if (named[ev.key]) return named[ev.key];
  if (ev.key.length === 1 && !ev.metaKey) return ev.key;
  return null;
}

function b64url(s) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function execPath(ns, pod, { container, command, tty = true, stdin = true }) {
  const q = new URLSearchParams({ stdout: 'true', stderr: String(!tty), stdin: String(stdin), tty: String(tty) });
  if (container) q.set('container', container);
  for (const c of command) q.append('command', c);
  return `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}/exec?${q}`;
}

// the refusal the exec would get, or null when the server would accept the WebSocket
export async function preflight(path) {
  const resp = await fetch(path, { headers: authHeaders({ Accept: 'application/json' }), credentials: 'same-origin', cache: 'no-store' });
  const text = await resp.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = null; }
  if (resp.status === 400 && /^Upgrade request required|WebSocket/.test((data && data.message) || text)) return null;
  if (resp.ok) return null;
  return errorFrom(resp.status, data, text);
}

// exitMessage of the final Status: kubectl's "command terminated with exit code N"
export function exitMessage(status) {
  if (!status || status.status === 'Success') return 'session ended (exit code 0)';
  const cause = ((status.details || {}).causes || []).find((c) => c.reason === 'ExitCode');
  if (cause) return `command terminated with exit code ${cause.message}`;
  return status.message || 'session ended with an error';
}

export class ExecSession {
  // onOutput(text), onEnd(message, isError)
  constructor(path, { onOutput, onEnd }) {
    this.path = path;
    this.onOutput = onOutput;
    this.onEnd = onEnd;
    this.ws = null;
    this.decoder = new TextDecoder();
    this.finished = false;
    this.status = null;
  }

  async open() {
    const refusal = await preflight(this.path);
    if (refusal) throw refusal;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${this.path}`;
    const protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    if (token()) protocols.push(`base64url.bearer.authorization.k8s.io.${b64url(token())}`);
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new ApiError(0, 'Error', 'the WebSocket for exec could not be opened'));
    });
    ws.onmessage = (ev) => this.receive(new Uint8Array(ev.data));
    ws.onclose = () => this.end();
    ws.onerror = () => this.end();
  }

  receive(msg) {
    if (!msg.length) return;
    const ch = msg[0];
    const data = msg.subarray(1);
    if (ch === STDOUT || ch === STDERR) this.onOutput(this.decoder.decode(data, { stream: true }));
    else if (ch === ERROR) {
      try {
        this.status = JSON.parse(new TextDecoder().decode(data));
      } catch {
        this.status = { status: 'Failure', message: new TextDecoder().decode(data) };
      }
    }
  }

  end() {
    if (this.finished) return;
    this.finished = true;
    const failed = this.status && this.status.status !== 'Success';
    this.onEnd(exitMessage(this.status), failed);
  }

  send(channel, bytes) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const msg = new Uint8Array(bytes.length + 1);
    msg[0] = channel;
    msg.set(bytes, 1);
    this.ws.send(msg);
  }

  input(text) {
    this.send(STDIN, new TextEncoder().encode(text));
  }

  resize(width, height) {
    this.send(RESIZE, new TextEncoder().encode(JSON.stringify({ Width: width, Height: height })));
  }

  close() {
    if (this.ws) this.ws.close();
  }
}

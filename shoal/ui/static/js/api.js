// The Kubernetes API as the signed-in user: requests, errors, and list+watch.
//
// Every call goes to the ordinary API with the user's bearer token (or none:
// then the browser's client certificate, if it has one, is who the user is),
// so the UI sees exactly what that user may see. A failure is an ApiError
// carrying the server's Status (403, 422...), which the page shows next to
// what caused it.
//
// A Watch is a small informer: list, then watch from the list's
// resourceVersion over one streamed fetch (newline-separated JSON events),
// re-listing on 410 Gone or after the stream breaks. HTTP/1.1 gives a page six
// connections per host and each open watch holds one, so pages keep at most
// three watches open and close them when they leave (see main.js).

export class ApiError extends Error {
  constructor(code, reason, message, status = null) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.status = status;
  }

  // what the page shows: "403 Forbidden: pods is forbidden: User ..."
  get text() {
    const head = this.code ? `${this.code}${this.reason ? ' ' + this.reason : ''}` : this.reason || 'Error';
    return `${head}: ${this.message}`;
  }
}

const auth = { token: null };

export function setToken(token) {
  auth.token = token || null;
}

export function token() {
  return auth.token;
}

export function authHeaders(extra = {}) {
  const h = { ...extra };
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  return h;
}

export function errorFrom(code, data, text) {
  if (data && data.kind === 'Status') {
    return new ApiError(code || data.code || 0, data.reason || '', data.message || text || '', data);
  }
  return new ApiError(code, '', (text || '').trim() || `the server answered ${code}`);
}

export async function request(method, path, { body, contentType = 'application/json', accept = 'application/json', signal } = {}) {
  const headers = authHeaders({ Accept: accept });
  if (body !== undefined) headers['Content-Type'] = contentType;
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, signal, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NetworkError', `cannot reach the API server (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) throw errorFrom(resp.status, data, text);
  return data;
}

export const get = (path, opts) => request('GET', path, opts);

export function patch(path, body, type) {
  const types = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json',
    json: 'application/json-patch+json', apply: 'application/apply-patch+yaml' };
  return request('PATCH', path, { body, contentType: types[type] });
}

// the path of a collection: /api/v1/pods, /apis/apps/v1/namespaces/ns/deployments
export function collection(apiVersion, plural, namespace) {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
}

export function objectPath(apiVersion, plural, namespace, name) {
  return `${collection(apiVersion, plural, namespace)}/${encodeURIComponent(name)}`;
}

export const keyOf = (o) => `${o.metadata.namespace || ''}/${o.metadata.name}`;

class Gone extends Error {}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withQuery(path, params) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ''));
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

export class Watch {
  // path: a collection path; params: labelSelector / fieldSelector; onChange(watch) after each batch
  constructor(path, { params = {}, onChange = () => {} } = {}) {
    this.path = path;
    this.params = params;
    this.onChange = onChange;
    this.items = new Map();
    this.synced = false;
    this.error = null;
    this.rv = '';
    this.stopped = false;
    this.abort = new AbortController();
    this.pending = false;
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
  }

  changed() {
    if (this.pending || this.stopped) return;
    this.pending = true;
    // one render per frame, however many events arrived
    requestAnimationFrame(() => {
      this.pending = false;
      if (!this.stopped) this.onChange(this);
    });
  }

  async run() {
    let delay = 500;
    while (!this.stopped) {
      try {
        const list = await request('GET', withQuery(this.path, this.params), { signal: this.abort.signal });
        this.items = new Map((list.items || []).map((o) => [keyOf(o), o]));
        this.rv = list.metadata.resourceVersion;
        this.synced = true;
        this.error = null;
        this.changed();
        delay = 500;
        await this.follow();
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof Gone) continue;
        this.error = e instanceof ApiError ? e : new ApiError(0, 'Error', String(e.message || e));
        this.synced = true;
        this.changed();
        await sleep(delay);
        delay = Math.min(delay * 2, 10000);
      }
    }
  }

  async follow() {
    while (!this.stopped) {
      const url = withQuery(this.path, { ...this.params, watch: '1', resourceVersion: this.rv,
        allowWatchBookmarks: 'true' });
      const resp = await fetch(url, { headers: authHeaders({ Accept: 'application/json' }), signal: this.abort.signal,
        credentials: 'same-origin', cache: 'no-store' });
      if (!resp.ok) {
        const text = await resp.text();
        let data = null;
        try { data = JSON.parse(text); } catch { data = null; }
        if (resp.status === 410) throw new Gone();
        throw errorFrom(resp.status, data, text);
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        let any = false;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) any = this.apply(JSON.parse(line)) || any;
        }
        if (any) this.changed();
      }
      // the server ended the watch (its timeout): watch again from where this one was
    }
  }

  apply(ev) {
    const o = ev.object || {};
    if (ev.type === 'ERROR') {
      if (o.code === 410) throw new Gone();
      throw errorFrom(o.code || 500, o, '');
    }
    if (o.metadata && o.metadata.resourceVersion) this.rv = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return false;
    if (ev.type === 'DELETED') this.items.delete(keyOf(o));
    else this.items.set(keyOf(o), o);
    return true;
  }
}

// Deploy from a pasted manifest: Kubernetes YAML (or JSON), one or many documents, each applied
// server-side (PATCH application/apply-patch+yaml, as kubectl apply --server-side) or created (POST).
// The kind's resource comes from discovery, as kubectl finds it; each document's answer or refusal
// (a 422 names the field) is shown on its own line.
// A document with neither apiVersion nor kind (a Compose file, a Marathon app or group, an ECS task or
// service definition) goes to POST /shoal/v1/apply, which recognises it and applies it as the signed-in
// user with that system's own code (a Compose file as the stack named in the stack box; ECS's cluster
// is the namespace); its answer lists the objects written, its refusal is that system's, as a Status.

import { ApiError, get, collection, objectPath, request } from '../api.js';
import { h, panel, showError } from '../dom.js';

const FIELD_MANAGER = 'shoal-ui';
const SAMPLE = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 2
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "echo hello from shoal; sleep 3600"]
`;

let yamlLoaded = null;
function loadYaml() {
  // js-yaml (MIT, vendored): only this page needs it, so it is loaded when the page is first opened
  if (!yamlLoaded) {
    yamlLoaded = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = new URL('../../vendor/js-yaml.min.js', import.meta.url).href;
      s.onload = () => resolve(window.jsyaml);
      s.onerror = () => reject(new Error('could not load the YAML parser'));
      document.head.append(s);
    });
  }
  return yamlLoaded;
}

// the documents of a manifest, Lists flattened; empty documents dropped. Pure.
export function documents(parsed) {
  const out = [];
  for (const d of parsed) {
    if (d === null || d === undefined) continue;
    if (typeof d === 'object' && !Array.isArray(d) && d.kind && /List$/.test(d.kind) && Array.isArray(d.items)) out.push(...d.items);
    else out.push(d);
  }
  return out;
}

// what a document is missing before it can be sent, as kubectl says it (or null). Pure.
export function invalid(doc) {
  if (typeof doc !== 'object' || Array.isArray(doc)) return 'error: a document is not an object';
  if (!doc.apiVersion) return "error: unable to decode: Object 'apiVersion' is missing";
  if (!doc.kind) return "error: unable to decode: Object 'Kind' is missing";
  if (!doc.metadata || !(doc.metadata.name || doc.metadata.generateName)) return 'error: resource name may not be empty';
  return null;
}

// whether a document is a Kubernetes object (sent to the Kubernetes API) rather than another system's
// definition (sent to /shoal/v1/apply, which tells Compose, Marathon and ECS apart). Pure.
export function isKubernetes(doc) {
  return typeof doc !== 'object' || doc === null || Array.isArray(doc) || 'apiVersion' in doc || 'kind' in doc;
}

// the line shown for /shoal/v1/apply's ApplyResult: what each document did, then the objects written. Pure.
export function applied(result) {
  const objs = (result.objects || []).map((o) => `${o.kind.toLowerCase()}/${o.name}${o.namespace ? ` -n ${o.namespace}` : ''} ${o.action}`);
  return [...(result.results || []), ...objs].join('; ');
}

async function sendOther(text, { namespace, stack, force }) {
  const q = new URLSearchParams({ fieldManager: FIELD_MANAGER });
  if (namespace) q.set('namespace', namespace);
  if (stack) q.set('stack', stack);
  if (force) q.set('force', 'true');
  return applied(await request('POST', `/shoal/v1/apply?${q}`, { body: text, contentType: 'application/yaml' }));
}

const discovery = new Map();
async function resourceFor(apiVersion, kind) {
  if (!discovery.has(apiVersion)) {
    discovery.set(apiVersion, get(apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`)
      .catch((e) => { discovery.delete(apiVersion); throw e; }));
  }
  let list;
  try {
    list = await discovery.get(apiVersion);
  } catch (e) {
    if (e instanceof ApiError && e.code === 404) list = { resources: [] };
    else throw e;
  }
  const r = (list.resources || []).find((x) => x.kind === kind && !x.name.includes('/'));
  if (!r) throw new ApiError(0, 'error', `resource mapping not found for kind "${kind}" in version "${apiVersion}": ensure CRDs are installed first`);
  return r;
}

async function send(doc, { mode, namespace, force }) {
  const r = await resourceFor(doc.apiVersion, doc.kind);
  const ns = r.namespaced ? (doc.metadata.namespace || namespace || 'default') : '';
  if (r.namespaced && doc.metadata.namespace && namespace && doc.metadata.namespace !== namespace) {
    // kubectl's refusal when -n and the document disagree
    throw new ApiError(0, 'error', `the namespace from the provided object "${doc.metadata.namespace}" does not match the namespace "${namespace}". You must pass '--namespace=${doc.metadata.namespace}' to perform this operation.`);
  }
  const group = doc.apiVersion.includes('/') ? `.${doc.apiVersion.split('/')[0]}` : '';
  const body = r.namespaced ? { ...doc, metadata: { ...doc.metadata, namespace: ns } } : doc;
  if (mode === 'create') {
    const created = await request('POST', collection(doc.apiVersion, r.name, ns), { body });
    return `${r.kind.toLowerCase()}${group}/${created.metadata.name} created`;
  }
  const q = new URLSearchParams({ fieldManager: FIELD_MANAGER });
  if (force) q.set('force', 'true');
  const path = `${objectPath(doc.apiVersion, r.name, ns, doc.metadata.name)}?${q}`;
  const applied = await request('PATCH', path, { body, contentType: 'application/apply-patch+yaml' });
  return `${r.kind.toLowerCase()}${group}/${applied.metadata.name} serverside-applied`;
}

// how a refused non-Kubernetes document is named beside its error. Pure.
export function otherName(doc, i) {
  if (doc && typeof doc === 'object') {
    if (doc.services && typeof doc.services === 'object' && !Array.isArray(doc.services)) return 'Compose file';
    if (doc.serviceName) return `ECS service ${doc.serviceName}`;
    if (doc.family) return `ECS task definition ${doc.family}`;
    if (Array.isArray(doc.apps) || Array.isArray(doc.groups)) return `Marathon group ${doc.id || '/'}`;
    if (typeof doc.id === 'string') return `Marathon app ${doc.id}`;
  }
  return `document ${i + 1}`;
}

export function mount(el, ctx) {
  const text = h('textarea', { id: 'manifest', rows: 22, spellcheck: false, placeholder: SAMPLE });
  const mode = h('select', { id: 'deploy-mode' }, h('option', { value: 'apply' }, 'server-side apply'), h('option', { value: 'create' }, 'create'));
  const force = h('input', { type: 'checkbox', id: 'deploy-force' });
  const ns = h('input', { id: 'deploy-namespace', value: ctx.namespace || '', placeholder: 'default', size: 14 });
  const stack = h('input', { id: 'deploy-stack', placeholder: 'Compose only', size: 14 });
  const results = h('ol', { class: 'results', id: 'deploy-results' });
  const go = h('button', { type: 'submit', id: 'deploy' }, 'Deploy');
  const p = panel('Deploy a manifest',
    h('form', { onsubmit: (ev) => { ev.preventDefault(); run(); } },
      h('p', { class: 'note' }, 'Kubernetes YAML or JSON (several documents separated by ---), a Compose file (deployed as the stack named below), a Marathon app or group, or an ECS task or service definition (its cluster is the namespace).'),
      text,
      h('div', { class: 'toolbar' }, h('label', {}, 'Mode ', mode), h('label', {}, force, ' force conflicts'),
        h('label', {}, 'Namespace ', ns), h('label', {}, 'Stack ', stack), go)),
    results);
  p.el.id = 'deploy-panel';
  el.append(p.el);
  loadYaml().catch(() => {});
  const run = async () => {
    results.replaceChildren();
    showError(p.msg, null);
    let docs;
    try {
      const yaml = await loadYaml();
      docs = documents(yaml.loadAll(text.value));
    } catch (e) {
      showError(p.msg, { text: `error: ${e.message}`, code: '' });
      return;
    }
    if (!docs.length) {
      showError(p.msg, { text: 'error: no objects passed to apply', code: '' });
      return;
    }
    go.disabled = true;
    for (const [i, doc] of docs.entries()) {
      const li = h('li', { class: 'pending' }, `document ${i + 1}: sending…`);
      results.append(li);
      try {
        if (!isKubernetes(doc)) {
          // the pasted text itself when it is this one document (a Compose file's errors name its lines)
          const body = docs.length === 1 ? text.value : JSON.stringify(doc);
          li.textContent = await sendOther(body, { namespace: ns.value.trim(), stack: stack.value.trim(), force: force.checked });
          li.className = 'ok';
          continue;
        }
        const bad = invalid(doc);
        if (bad) throw new ApiError(0, 'error', bad.replace(/^error: /, ''));
        li.textContent = await send(doc, { mode: mode.value, namespace: ns.value.trim(), force: force.checked });
        li.className = 'ok';
      } catch (e) {
        li.className = 'error';
        li.setAttribute('role', 'alert');
        const what = doc && doc.kind ? `${doc.kind} ${(doc.metadata || {}).name || ''}` : otherName(doc, i);
        li.textContent = `${what}: ${e instanceof ApiError ? e.text : e.message}`;
      }
    }
    go.disabled = false;
  };
}

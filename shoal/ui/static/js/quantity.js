// Kubernetes quantities ("250m", "1.5", "128Mi", "1e3", "2500n") as numbers, and node usage. Pure.

const SUFFIX = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function parseQuantity(q) {
  if (q === undefined || q === null || q === '') return 0;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|))$/.exec(String(q).trim());
  if (!m) return NaN;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const f = SUFFIX[m[3]];
  return f === undefined ? NaN : base * f;
}

export function formatCpu(cores) {
  if (!Number.isFinite(cores)) return '?';
  return cores < 1 ? `${Math.round(cores * 1000)}m` : `${+cores.toFixed(2)}`;
}

export function formatBytes(b) {
  if (!Number.isFinite(b)) return '?';
  const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return `${+b.toFixed(b < 10 && i ? 1 : 0)}${units[i]}`;
}

// what the pods bound to each node request: {node: {cpu, memory, pods}} (terminated pods free theirs)
export function requestsByNode(pods) {
  const out = new Map();
  for (const p of pods) {
    const node = (p.spec || {}).nodeName;
    const phase = (p.status || {}).phase;
    if (!node || phase === 'Succeeded' || phase === 'Failed') continue;
    const r = out.get(node) || { cpu: 0, memory: 0, pods: 0 };
    r.pods++;
    for (const c of (p.spec || {}).containers || []) {
      const req = (c.resources || {}).requests || {};
      r.cpu += parseQuantity(req.cpu) || 0;
      r.memory += parseQuantity(req.memory) || 0;
    }
    out.set(node, r);
  }
  return out;
}

// a node's allocatable (else capacity) as numbers
export function allocatable(node) {
  const st = node.status || {};
  const a = { ...(st.capacity || {}), ...(st.allocatable || {}) };
  return { cpu: parseQuantity(a.cpu), memory: parseQuantity(a.memory), pods: parseQuantity(a.pods) };
}

export function fraction(used, total) {
  return total > 0 && Number.isFinite(used) ? Math.min(1, Math.max(0, used / total)) : 0;
}

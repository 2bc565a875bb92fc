// Overview: nodes with capacity and usage bars, pods by phase, recent warnings. Three watches and a
// metrics poll (metrics.k8s.io is a poll upstream too: it has no watch). Without metrics, "no metrics".

import { ApiError, collection, get } from '../api.js';
import { ageCell, esc, h, meter, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { nodeStatus, PHASES, phaseCounts, recentEvents, involved, eventTime } from '../kube.js';
import { allocatable, formatBytes, formatCpu, fraction, parseQuantity, requestsByNode } from '../quantity.js';

const METRICS_EVERY = 15000;

function usageCell(used, total, requested, fmt, metricsOn) {
  const req = `<small>requested ${fmt(requested)} of ${fmt(total)}</small>`;
  if (!metricsOn) return `<span class="nometrics">no metrics</span><br>${req}`;
  if (used === undefined) return `<span class="nometrics">no metrics for this node</span><br>${req}`;
  const f = fraction(used, total);
  return `${meter(f, `${fmt(used)} of ${fmt(total)}`)} <span class="num">${Math.round(f * 100)}%</span><br>${req}`;
}

export function mount(el, ctx) {
  const nodesT = table(['NAME', 'STATUS', 'CPU', 'MEMORY', 'PODS', 'VERSION', 'AGE'], 'nodes');
  const nodes = panel('Nodes', nodesT.table);
  const phases = h('div', { class: 'phases', id: 'phases' });
  const podsP = panel('Pods by phase', phases);
  const warnT = table(['LAST SEEN', 'OBJECT', 'REASON', 'MESSAGE', 'COUNT'], 'warnings');
  const warn = panel('Recent warnings', warnT.table);
  nodes.el.id = 'overview-nodes';
  podsP.el.id = 'overview-pods';
  warn.el.id = 'overview-warnings';
  const metricsNote = h('div', { class: 'note', id: 'metrics-note' });
  nodes.el.insertBefore(metricsNote, nodesT.table);
  el.append(h('div', { class: 'grid' }, nodes.el, h('div', { class: 'col' }, podsP.el, warn.el)));

  const metrics = { on: false, byNode: new Map(), error: null };
  let nodeW = null;
  let podW = null;

  const renderNodes = () => {
    if (!nodeW.synced) return;
    showError(nodes.msg, nodeW.error);
    const req = podW && podW.synced && !podW.error ? requestsByNode(podW.items.values()) : new Map();
    const rows = [...nodeW.items.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)).map((n) => {
      const a = allocatable(n);
      const r = req.get(n.metadata.name) || { cpu: 0, memory: 0, pods: 0 };
      const u = metrics.byNode.get(n.metadata.name);
      const podsF = fraction(r.pods, a.pods);
      return { key: n.metadata.name, html:
        `<td>${esc(n.metadata.name)}</td><td>${esc(nodeStatus(n))}</td>`
        + `<td>${usageCell(u && u.cpu, a.cpu, r.cpu, formatCpu, metrics.on)}</td>`
        + `<td>${usageCell(u && u.memory, a.memory, r.memory, formatBytes, metrics.on)}</td>`
        + `<td>${meter(podsF, `${r.pods} of ${a.pods} pods`)} <span class="num">${r.pods}/${a.pods || '?'}</span></td>`
        + `<td>${esc(((n.status || {}).nodeInfo || {}).kubeletVersion || '')}</td>${ageCell(n.metadata.creationTimestamp)}` };
    });
    renderRows(nodesT.tbody, nodeW.error ? [] : rows, nodeW.error ? 'not allowed' : 'no nodes', 7);
    metricsNote.textContent = metrics.on ? 'CPU and memory: usage from metrics.k8s.io, and what pods request'
      : metrics.error ? `no metrics (${metrics.error})` : 'no metrics: bars show what pods request only';
  };

  const renderPods = () => {
    if (!podW.synced) return;
    showError(podsP.msg, podW.error);
    if (podW.error) {
      phases.replaceChildren();
      return;
    }
    const counts = phaseCounts(podW.items.values());
    const total = podW.items.size;
    phases.innerHTML = `<div class="total" id="pod-total">${total} pods</div>` + PHASES.map((p) =>
      `<div class="phase ${p.toLowerCase()}" data-phase="${p}"><b>${counts[p]}</b> ${p}</div>`).join('');
  };

  const renderWarnings = (w) => {
    showError(warn.msg, w.error);
    const rows = recentEvents([...w.items.values()], { warningsOnly: true, limit: 20 }).map((e) => ({
      key: e.metadata.uid || e.metadata.name,
      html: `${ageCell(eventTime(e))}<td>${esc(involved(e))}</td><td>${esc(e.reason)}</td>`
        + `<td>${esc(e.message)}</td><td>${e.count || 1}</td>`,
    }));
    renderRows(warnT.tbody, w.error ? [] : rows, w.error ? 'not allowed' : 'no warnings', 5);
  };

  let painted = false;
  const checkPainted = () => {
    if (!painted && nodeW.synced && podW.synced && evW.synced) {
      painted = true;
      ctx.painted('overview');
    }
  };
  nodeW = ctx.watch('/api/v1/nodes', { onChange: () => { renderNodes(); checkPainted(); } });
  podW = ctx.watch(collection('v1', 'pods', ctx.namespace), { onChange: () => { renderPods(); renderNodes(); checkPainted(); } });
  const evW = ctx.watch(collection('v1', 'events', ctx.namespace), { onChange: (w) => { renderWarnings(w); checkPainted(); } });

  let timer = null;
  let stopped = false;
  const poll = async () => {
    try {
      const list = await get('/apis/metrics.k8s.io/v1beta1/nodes');
      metrics.on = true;
      metrics.error = null;
      metrics.byNode = new Map((list.items || []).map((m) => [m.metadata.name,
        { cpu: parseQuantity((m.usage || {}).cpu), memory: parseQuantity((m.usage || {}).memory) }]));
    } catch (e) {
      metrics.on = false;
      metrics.byNode = new Map();
      // not served (404) or not available yet (503): the plain "no metrics"; a refusal says why
      metrics.error = e instanceof ApiError && ![404, 503].includes(e.code) ? e.text : null;
    }
    if (stopped) return;
    if (nodeW.synced) renderNodes();
    timer = setTimeout(poll, METRICS_EVERY);
  };
  poll();
  showInfo(nodes.msg, 'loading…');
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

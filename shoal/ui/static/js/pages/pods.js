// Pods: kubectl get pods -o wide, live. A row is rebuilt only when its pod changed.

import { collection } from '../api.js';
import { ageCell, esc, h, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { podStatus } from '../kube.js';

export function podRow(p) {
  const s = podStatus(p);
  const ns = p.metadata.namespace;
  const href = `#/pod/${encodeURIComponent(ns)}/${encodeURIComponent(p.metadata.name)}`;
  return `<td><a href="${href}">${esc(p.metadata.name)}</a></td><td>${esc(ns)}</td><td>${s.ready}</td>`
    + `<td class="st st-${esc(s.status.replace(/[^A-Za-z]/g, ''))}">${esc(s.status)}</td><td>${s.restarts}</td>`
    + `${ageCell(p.metadata.creationTimestamp)}<td>${esc((p.spec || {}).nodeName || '<none>')}</td>`
    + `<td>${esc((p.status || {}).podIP || '<none>')}</td>`;
}

export function mount(el, ctx) {
  const headers = ['NAME', 'NAMESPACE', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'NODE', 'IP'];
  const t = table(headers, 'pods');
  const filter = h('input', { id: 'pod-filter', type: 'search', placeholder: 'filter by name' });
  const p = panel('Pods', filter, t.table);
  p.el.id = 'pod-list';
  el.append(p.el);
  showInfo(p.msg, 'loading…');
  let painted = false;
  const render = () => {
    showError(p.msg, w.error);
    const f = filter.value.trim();
    const rows = [...w.items.values()].filter((x) => !f || x.metadata.name.includes(f))
      .sort((a, b) => (a.metadata.namespace + '/' + a.metadata.name < b.metadata.namespace + '/' + b.metadata.name ? -1 : 1))
      .map((x) => ({ key: `${x.metadata.namespace}/${x.metadata.name}`, html: podRow(x) }));
    renderRows(t.tbody, w.error ? [] : rows, w.error ? 'not allowed' : 'no pods', headers.length);
    if (!painted) {
      painted = true;
      ctx.painted('pods');
    }
  };
  const w = ctx.watch(collection('v1', 'pods', ctx.namespace), { onChange: render });
  filter.addEventListener('input', () => w.synced && render());
}

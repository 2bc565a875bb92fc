// Services and their endpoints: two watches, joined by namespace/name.

import { collection } from '../api.js';
import { ageCell, esc, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { endpointAddresses, notReadyCount, servicePorts } from '../kube.js';

export function mount(el, ctx) {
  const headers = ['NAME', 'NAMESPACE', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'ENDPOINTS', 'AGE'];
  const t = table(headers, 'services');
  const p = panel('Services', t.table);
  p.el.id = 'service-list';
  el.append(p.el);
  showInfo(p.msg, 'loading…');
  let painted = false;
  const render = () => {
    if (!svcW.synced) return;
    showError(p.msg, svcW.error || epW.error);
    const rows = [...svcW.items.values()].sort((a, b) => (a.metadata.namespace + a.metadata.name < b.metadata.namespace + b.metadata.name ? -1 : 1))
      .map((s) => {
        const key = `${s.metadata.namespace}/${s.metadata.name}`;
        const ep = epW.items.get(key);
        const addrs = endpointAddresses(ep);
        const notReady = notReadyCount(ep);
        const shown = addrs.length > 4 ? `${addrs.slice(0, 4).join(', ')} + ${addrs.length - 4} more` : addrs.join(', ');
        return { key, html: `<td>${esc(s.metadata.name)}</td><td>${esc(s.metadata.namespace)}</td><td>${esc(s.spec.type || 'ClusterIP')}</td>`
          + `<td>${esc(s.spec.clusterIP || '<none>')}</td><td>${esc(servicePorts(s))}</td>`
          + `<td class="endpoints">${esc(shown || (epW.error ? '?' : '<none>'))}${notReady ? ` <small>(${notReady} not ready)</small>` : ''}</td>`
          + `${ageCell(s.metadata.creationTimestamp)}` };
      });
    renderRows(t.tbody, svcW.error ? [] : rows, svcW.error ? 'not allowed' : 'no services', headers.length);
    if (!painted && epW.synced) {
      painted = true;
      ctx.painted('services');
    }
  };
  const svcW = ctx.watch(collection('v1', 'services', ctx.namespace), { onChange: render });
  const epW = ctx.watch(collection('v1', 'endpoints', ctx.namespace), { onChange: render });
}

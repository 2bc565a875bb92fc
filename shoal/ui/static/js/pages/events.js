// Events as they happen: one watch, newest first, optionally warnings only.

import { collection } from '../api.js';
import { ageCell, esc, h, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { eventTime, involved, recentEvents } from '../kube.js';

export function mount(el, ctx) {
  const headers = ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE', 'COUNT', 'NAMESPACE'];
  const t = table(headers, 'events');
  const warnings = h('input', { type: 'checkbox', id: 'warnings-only' });
  const p = panel('Events', h('label', { class: 'toolbar' }, warnings, ' warnings only'), t.table);
  p.el.id = 'event-list';
  el.append(p.el);
  showInfo(p.msg, 'loading…');
  let painted = false;
  const render = () => {
    showError(p.msg, w.error);
    const rows = recentEvents([...w.items.values()], { warningsOnly: warnings.checked, limit: 300 }).map((e) => ({
      key: e.metadata.uid || `${e.metadata.namespace}/${e.metadata.name}`,
      html: `${ageCell(eventTime(e))}<td class="${e.type === 'Warning' ? 'warning' : ''}">${esc(e.type)}</td>`
        + `<td>${esc(e.reason)}</td><td>${esc(involved(e))}</td><td>${esc(e.message)}</td><td>${e.count || 1}</td>`
        + `<td>${esc(e.metadata.namespace)}</td>`,
    }));
    renderRows(t.tbody, w.error ? [] : rows, w.error ? 'not allowed' : 'no events', headers.length);
    if (!painted) {
      painted = true;
      ctx.painted('events');
    }
  };
  const w = ctx.watch(collection('v1', 'events', ctx.namespace), { onChange: render });
  warnings.addEventListener('change', () => w.synced && render());
}

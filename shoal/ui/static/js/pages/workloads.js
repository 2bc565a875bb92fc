// Workloads: Deployments, StatefulSets, DaemonSets, Jobs and CronJobs (one kind at a time: one watch),
// and for the selected one its rollout history and kubectl's scale / restart / undo, each answer
// (or refusal) shown beside the button that caused it.

import { collection, get, objectPath, patch, request } from '../api.js';
import { ageCell, esc, h, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { history as rolloutHistory, RESTARTABLE, restartPatch, rollbackPatch, SCALABLE, scalePatch, workloadColumns } from '../kube.js';

const KINDS = {
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments' },
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets' },
  DaemonSet: { apiVersion: 'apps/v1', plural: 'daemonsets' },
  Job: { apiVersion: 'batch/v1', plural: 'jobs' },
  CronJob: { apiVersion: 'batch/v1', plural: 'cronjobs' },
};

function selectorString(sel) {
  return Object.entries((sel || {}).matchLabels || {}).map(([k, v]) => `${k}=${v}`).join(',');
}

// the ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet) a workload's history is in
async function children(kind, o) {
  const ns = o.metadata.namespace;
  const params = new URLSearchParams({ labelSelector: selectorString(o.spec.selector) });
  const path = kind === 'Deployment' ? collection('apps/v1', 'replicasets', ns) : collection('apps/v1', 'controllerrevisions', ns);
  return (await get(`${path}?${params}`)).items || [];
}

export function mount(el, ctx) {
  const kind = ctx.args[0] && KINDS[ctx.args[0]] ? ctx.args[0] : 'Deployment';
  const selected = ctx.args[1] && ctx.args[2] ? `${ctx.args[1]}/${ctx.args[2]}` : null;
  const { apiVersion, plural } = KINDS[kind];
  const tabs = h('div', { class: 'tabs' }, Object.keys(KINDS).map((k) =>
    h('a', { href: `#/workloads/${k}`, class: k === kind ? 'active' : '', id: `tab-${k}` }, `${k}s`)));
  const sample = Object.keys(workloadColumns(kind, { spec: {}, status: {}, metadata: {} }));
  const headers = ['NAME', 'NAMESPACE', ...sample, 'AGE'];
  const t = table(headers, 'workloads');
  const list = panel(`${kind}s`, t.table);
  list.el.id = 'workload-list';
  const detail = h('section', { class: 'panel detail', id: 'workload-detail', hidden: true });
  el.append(tabs, list.el, detail);
  showInfo(list.msg, 'loading…');

  let current = null; // the selected object, as the watch last saw it
  const status = h('div', { class: 'status' });
  const actionMsg = h('div', { class: 'msg', id: 'action-msg', hidden: true });
  const histBody = h('tbody');

  const act = async (what, fn) => {
    showInfo(actionMsg, `${what}…`);
    try {
      const text = await fn();
      showInfo(actionMsg, text);
    } catch (e) {
      showError(actionMsg, e);
    }
  };
  const refreshHistory = async () => {
    if (!current || !RESTARTABLE.has(kind)) return;
    try {
      const hs = rolloutHistory(kind, current, await children(kind, current));
      histBody.innerHTML = hs.length ? hs.map((x) => `<tr><td>${x.revision}</td><td>${esc(x.changeCause)}</td>`
        + `<td>${esc(x.images)}</td><td><button data-revision="${x.revision}" class="undo-to">Roll back to ${x.revision}</button></td></tr>`).join('')
        : '<tr class="empty"><td colspan="4">no revisions</td></tr>';
    } catch (e) {
      histBody.innerHTML = `<tr class="empty"><td colspan="4" class="error" role="alert">${esc(e.text || e)}</td></tr>`;
    }
  };
  const rollback = (to) => act('rolling back', async () => {
    const o = current;
    const fresh = await get(objectPath(apiVersion, plural, o.metadata.namespace, o.metadata.name));
    const plan = rollbackPatch(kind, fresh, await children(kind, fresh), to);
    if (plan.error) throw Object.assign(new Error(plan.error), { text: `error: ${plan.error}` });
    if (plan.skipped) return `${kind.toLowerCase()}.apps/${o.metadata.name} ${plan.skipped}`;
    await patch(objectPath(apiVersion, plural, o.metadata.namespace, o.metadata.name), plan.body, plan.type);
    setTimeout(refreshHistory, 1000);
    return `${kind.toLowerCase()}.apps/${o.metadata.name} rolled back`;
  });
  histBody.addEventListener('click', (ev) => {
    const b = ev.target.closest('button.undo-to');
    if (b) rollback(Number(b.dataset.revision));
  });

  const showDetail = () => {
    if (!current) return;
    const st = current.status || {};
    const conds = (st.conditions || []).map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`).join(', ');
    status.innerHTML = `<b>${esc(current.metadata.namespace)}/${esc(current.metadata.name)}</b> `
      + Object.entries(workloadColumns(kind, current)).map(([k, v]) => `${esc(k)} <span class="num">${esc(v)}</span>`).join(' · ')
      + (conds ? `<br><small>${esc(conds)}</small>` : '');
  };

  const select = (o) => {
    current = o;
    const replicas = h('input', { type: 'number', min: '0', id: 'replicas', value: String((o.spec || {}).replicas ?? 1), size: 4 });
    const path = objectPath(apiVersion, plural, o.metadata.namespace, o.metadata.name);
    const name = `${kind.toLowerCase()}.${apiVersion.split('/')[0]}/${o.metadata.name}`;
    const actions = h('div', { class: 'actions' },
      SCALABLE.has(kind) ? h('form', { class: 'inline', onsubmit: (ev) => {
        ev.preventDefault();
        act('scaling', async () => {
          await patch(`${path}/scale`, scalePatch(Number(replicas.value)), 'merge');
          return `${name} scaled`;
        });
      } }, h('label', { for: 'replicas' }, 'Replicas '), replicas, h('button', { type: 'submit', id: 'scale' }, 'Scale')) : null,
      RESTARTABLE.has(kind) ? h('button', { id: 'restart', onclick: () => act('restarting', async () => {
        await patch(path, restartPatch(), 'strategic');
        setTimeout(refreshHistory, 1000);
        return `${name} restarted`;
      }) }, 'Restart') : null,
      RESTARTABLE.has(kind) ? h('button', { id: 'undo', onclick: () => rollback(0) }, 'Roll back') : null,
      kind === 'CronJob' ? h('button', { id: 'suspend', onclick: () => act('updating', async () => {
        const suspend = !(current.spec || {}).suspend;
        await patch(path, { spec: { suspend } }, 'merge');
        return `${name} ${suspend ? 'suspended' : 'resumed'}`;
      }) }, (o.spec || {}).suspend ? 'Resume' : 'Suspend') : null,
      h('button', { id: 'delete', class: 'danger', onclick: () => act('deleting', async () => {
        await request('DELETE', path, { body: { propagationPolicy: 'Background' } });
        return `${name} deleted`;
      }) }, 'Delete'));
    const hist = RESTARTABLE.has(kind) ? [h('h3', {}, 'Rollout history'),
      h('table', { class: 'history' }, h('thead', {}, h('tr', {}, ['REVISION', 'CHANGE-CAUSE', 'IMAGES', ''].map((x) => h('th', {}, x)))), histBody)] : [];
    detail.hidden = false;
    detail.replaceChildren(h('h2', {}, `${kind} ${o.metadata.name}`), status, actions, actionMsg, ...hist);
    showError(actionMsg, null);
    showDetail();
    refreshHistory();
  };

  t.tbody.addEventListener('click', (ev) => {
    const a = ev.target.closest('a.select');
    if (!a) return;
    ev.preventDefault();
    const o = w.items.get(a.dataset.key);
    if (o) {
      history.replaceState(null, '', `#/workloads/${kind}/${o.metadata.namespace}/${o.metadata.name}`);
      select(o);
    }
  });

  let painted = false;
  const w = ctx.watch(collection(apiVersion, plural, ctx.namespace), { onChange: () => {
    showError(list.msg, w.error);
    const rows = [...w.items.values()].sort((a, b) => (a.metadata.namespace + a.metadata.name < b.metadata.namespace + b.metadata.name ? -1 : 1))
      .map((o) => {
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        const cols = Object.values(workloadColumns(kind, o)).map((v) => `<td>${esc(v)}</td>`).join('');
        return { key, html: `<td><a href="#" class="select" data-key="${esc(key)}">${esc(o.metadata.name)}</a></td>`
          + `<td>${esc(o.metadata.namespace)}</td>${cols}${ageCell(o.metadata.creationTimestamp)}` };
      });
    renderRows(t.tbody, w.error ? [] : rows, w.error ? 'not allowed' : `no ${kind}s`, headers.length);
    if (current) {
      const now = w.items.get(`${current.metadata.namespace}/${current.metadata.name}`);
      if (now) {
        const changedTemplate = JSON.stringify(now.spec.template) !== JSON.stringify(current.spec.template);
        current = now;
        showDetail();
        if (changedTemplate) setTimeout(refreshHistory, 500);
      }
    } else if (selected && w.items.has(selected)) {
      select(w.items.get(selected));
    }
    if (!painted) {
      painted = true;
      ctx.painted('workloads');
    }
  } });
}

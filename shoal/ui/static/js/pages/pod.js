// One pod: its status (live), its events, its logs (follow) and a terminal (exec).

import { authHeaders, collection, errorFrom, objectPath, request } from '../api.js';
import { ageCell, esc, h, panel, renderRows, showError, showInfo, table } from '../dom.js';
import { age, eventTime, podStatus, recentEvents } from '../kube.js';
import { ExecSession, execPath, keyBytes, Screen } from '../terminal.js';

const MAX_LOG = 512 * 1024;

function containerNames(p) {
  return [...((p.spec || {}).initContainers || []), ...((p.spec || {}).containers || [])].map((c) => c.name);
}

function logs(ns, name, containers) {
  const select = h('select', { id: 'log-container' }, containers.map((c) => h('option', { value: c }, c)));
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const out = h('pre', { class: 'log', id: 'log' });
  const p = panel('Logs', h('div', { class: 'toolbar' }, h('label', {}, 'Container ', select),
    h('label', {}, follow, ' follow')), out);
  p.el.id = 'pod-logs';
  let abort = null;
  const start = async () => {
    if (abort) abort.abort();
    abort = new AbortController();
    const mine = abort;
    out.textContent = '';
    showError(p.msg, null);
    const q = new URLSearchParams({ container: select.value, tailLines: '1000' });
    if (follow.checked) q.set('follow', 'true');
    try {
      const resp = await fetch(`${objectPath('v1', 'pods', ns, name)}/log?${q}`,
        { headers: authHeaders({ Accept: '*/*' }), signal: mine.signal, credentials: 'same-origin', cache: 'no-store' });
      if (!resp.ok) {
        const text = await resp.text();
        let data = null;
        try { data = JSON.parse(text); } catch { data = null; }
        showError(p.msg, errorFrom(resp.status, data, text));
        return;
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        let text = out.textContent + value;
        if (text.length > MAX_LOG) text = text.slice(text.length - MAX_LOG);
        out.textContent = text;
        if (stick) out.scrollTop = out.scrollHeight;
      }
      if (mine === abort && follow.checked) showInfo(p.msg, 'the log stream ended (the container stopped)');
    } catch (e) {
      if (e.name !== 'AbortError') showError(p.msg, e);
    }
  };
  select.addEventListener('change', start);
  follow.addEventListener('change', start);
  return { el: p.el, start, stop: () => abort && abort.abort() };
}

function terminal(ns, name, containers) {
  const select = h('select', { id: 'term-container' }, containers.map((c) => h('option', { value: c }, c)));
  const command = h('input', { id: 'term-command', value: 'sh', size: 24, title: 'the command, split on spaces' });
  const screen = h('pre', { class: 'terminal', id: 'terminal', tabindex: '0', title: 'click, then type' });
  const connect = h('button', { type: 'submit', id: 'term-connect' }, 'Connect');
  const p = panel('Terminal', h('form', { class: 'toolbar', onsubmit: (ev) => { ev.preventDefault(); open(); } },
    h('label', {}, 'Container ', select), h('label', {}, 'Command ', command), connect), screen);
  p.el.id = 'pod-terminal';
  let session = null;
  let vt = new Screen();
  let frame = 0;
  const paint = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      screen.textContent = vt.text();
      screen.scrollTop = screen.scrollHeight;
    });
  };
  const size = () => {
    const cols = Math.max(20, Math.floor(screen.clientWidth / 8.4));
    const rows = Math.max(5, Math.floor(screen.clientHeight / 17));
    return [cols, rows];
  };
  const open = async () => {
    if (session) session.close();
    vt = new Screen();
    paint();
    showError(p.msg, null);
    const argv = command.value.trim().split(/\s+/).filter(Boolean);
    const s = new ExecSession(execPath(ns, name, { container: select.value, command: argv }), {
      onOutput: (text) => { vt.write(text); paint(); },
      onEnd: (message, failed) => {
        if (session !== s) return;
        screen.dataset.state = 'ended';
        if (failed) showError(p.msg, { text: message, code: '' });
        else showInfo(p.msg, message);
      },
    });
    session = s;
    try {
      await s.open();
      screen.dataset.state = 'open';
      s.resize(...size());
      showInfo(p.msg, `connected: ${argv.join(' ')}`);
      screen.focus();
    } catch (e) {
      showError(p.msg, e);
    }
  };
  screen.addEventListener('keydown', (ev) => {
    const bytes = keyBytes(ev);
    if (bytes === null || !session) return;
    ev.preventDefault();
    session.input(bytes);
  });
  screen.addEventListener('paste', (ev) => {
    if (!session) return;
    ev.preventDefault();
    session.input(ev.clipboardData.getData('text'));
  });
  return { el: p.el, stop: () => session && session.close() };
}

export function mount(el, ctx) {
  const [ns, name] = ctx.args;
  const head = h('div', { class: 'pod-head' });
  const info = panel(`Pod ${ns}/${name}`, head);
  info.el.id = 'pod-info';
  const del = h('button', { id: 'pod-delete', class: 'danger', onclick: async () => {
    try {
      await request('DELETE', objectPath('v1', 'pods', ns, name));
      showInfo(info.msg, `pod "${name}" deleted`);
    } catch (e) {
      showError(info.msg, e);
    }
  } }, 'Delete');
  info.el.querySelector('h2').append(' ', del);
  const cT = table(['CONTAINER', 'IMAGE', 'STATE', 'READY', 'RESTARTS']);
  const eT = table(['LAST SEEN', 'TYPE', 'REASON', 'MESSAGE']);
  const evP = panel('Events', eT.table);
  info.el.append(cT.table);
  el.append(info.el);
  showInfo(info.msg, 'loading…');
  let parts = null;
  const podW = ctx.watch(collection('v1', 'pods', ns), { params: { fieldSelector: `metadata.name=${name}` }, onChange: () => {
    showError(info.msg, podW.error);
    const p = podW.items.get(`${ns}/${name}`);
    if (!p) {
      if (!podW.error) showInfo(info.msg, `pod "${name}" not found`);
      head.replaceChildren();
      return;
    }
    const s = podStatus(p);
    head.innerHTML = `<span class="st st-${esc(s.status.replace(/[^A-Za-z]/g, ''))}" id="pod-status">${esc(s.status)}</span>`
      + ` · ready ${s.ready} · restarts ${s.restarts} · node ${esc(p.spec.nodeName || '<none>')}`
      + ` · IP ${esc((p.status || {}).podIP || '<none>')} · age ${age(p.metadata.creationTimestamp)}`;
    const statuses = new Map([...((p.status || {}).initContainerStatuses || []), ...((p.status || {}).containerStatuses || [])].map((c) => [c.name, c]));
    renderRows(cT.tbody, [...(p.spec.initContainers || []), ...p.spec.containers].map((c) => {
      const cs = statuses.get(c.name) || {};
      const state = Object.keys(cs.state || {})[0] || 'waiting';
      const why = ((cs.state || {})[state] || {}).reason || '';
      return { key: c.name, html: `<td>${esc(c.name)}</td><td>${esc(c.image)}</td><td>${esc(state)}${why ? ` (${esc(why)})` : ''}</td>`
        + `<td>${cs.ready ? 'true' : 'false'}</td><td>${cs.restartCount || 0}</td>` };
    }), 'no containers', 5);
    if (!parts) {
      const names = containerNames(p);
      parts = { logs: logs(ns, name, names), term: terminal(ns, name, names) };
      el.append(h('div', { class: 'grid two' }, parts.logs.el, parts.term.el), evP.el);
      parts.logs.start();
      ctx.painted('pod');
    }
  } });
  const evW = ctx.watch(collection('v1', 'events', ns), { params: { fieldSelector: `involvedObject.name=${name}` }, onChange: () => {
    showError(evP.msg, evW.error);
    renderRows(eT.tbody, recentEvents([...evW.items.values()]).map((e) => ({ key: e.metadata.uid || e.metadata.name,
      html: `${ageCell(eventTime(e))}<td>${esc(e.type)}</td><td>${esc(e.reason)}</td><td>${esc(e.message)}</td>` })),
    evW.error ? 'not allowed' : 'no events', 4);
  } });
  return () => {
    if (parts) {
      parts.logs.stop();
      parts.term.stop();
    }
  };
}

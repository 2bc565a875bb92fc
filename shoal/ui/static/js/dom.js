// Small DOM helpers: escaping, element building, keyed table rows, messages next to what caused them.
//
// Ages ("5m") are not part of a row's HTML: they change every second and would make every row
// differ at every render. A row holds an empty age cell with its timestamp; tickAges fills them
// (after each render and every few seconds), so a watch event rebuilds only the row it changed.

import { age } from './kube.js';

export function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// h('button', {class: 'x', onclick: f}, 'text', child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

// Rows keyed by object: a row is rebuilt only when its HTML changed, so a watch event touches one row.
// rows: [{key, html}] in display order. The first render of a table is one innerHTML.
export function renderRows(tbody, rows, emptyText = 'nothing here', columns = 1) {
  if (!rows.length) {
    tbody.innerHTML = `<tr class="empty"><td colspan="${columns}">${esc(emptyText)}</td></tr>`;
    tbody._rows = new Map();
    return;
  }
  const old = tbody._rows;
  if (!old || !old.size) {
    tbody.innerHTML = rows.map((r) => `<tr data-key="${esc(r.key)}">${r.html}</tr>`).join('');
    const map = new Map();
    let i = 0;
    for (const tr of tbody.children) {
      tr._html = rows[i].html;
      map.set(rows[i].key, tr);
      i++;
    }
    tbody._rows = map;
    tickAges(tbody);
    return;
  }
  const next = new Map();
  let prev = null;
  for (const r of rows) {
    let tr = old.get(r.key);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.key = r.key;
    }
    if (tr._html !== r.html) {
      tr.innerHTML = r.html;
      tr._html = r.html;
      tickAges(tr);
    }
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    next.set(r.key, tr);
    prev = tr;
  }
  for (const [k, tr] of old) if (!next.has(k)) tr.remove();
  while (prev && prev.nextSibling) prev.nextSibling.remove();
  tbody._rows = next;
}

// a table with a head; returns {table, tbody}
export function table(headers, cls = '') {
  const tbody = h('tbody');
  const table = h('table', { class: cls }, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), tbody);
  return { table, tbody };
}

// the message area of a panel: an ApiError's text (403, 422...) or nothing
export function showError(el, err) {
  if (!err) {
    el.replaceChildren();
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.replaceChildren(h('div', { class: 'error', role: 'alert', dataset: { code: String(err.code || '') } }, err.text || String(err)));
}

export function showInfo(el, text) {
  el.hidden = false;
  el.replaceChildren(h('div', { class: 'info', role: 'status' }, text));
}

export function meter(value, title) {
  return `<meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="${value.toFixed(3)}" title="${esc(title)}"></meter>`;
}

// a section with a title, a message area and content
export function panel(title, ...content) {
  const msg = h('div', { class: 'msg', hidden: true });
  const el = h('section', { class: 'panel' }, h('h2', {}, title), msg, ...content);
  return { el, msg };
}

export function ageCell(timestamp) {
  return `<td class="age" data-t="${esc(timestamp || '')}"></td>`;
}

export function tickAges(root, now = Date.now()) {
  for (const td of root.querySelectorAll('td.age')) {
    const text = age(td.dataset.t, now);
    if (td.textContent !== text) td.textContent = text;
  }
}

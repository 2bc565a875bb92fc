// The shell: sign in, the header (user, namespace, pages), and a hash router that mounts one page at a time.
//
// A page is mount(el, ctx) -> unmount. ctx.watch(...) opens a Watch that is
// stopped when the page leaves, so at most the page's own watches hold
// connections. The token lives in sessionStorage (this tab only).

import { ApiError, request, setToken, Watch } from './api.js';
import { h, showError, tickAges } from './dom.js';
import * as overview from './pages/overview.js';
import * as workloads from './pages/workloads.js';
import * as pods from './pages/pods.js';
import * as pod from './pages/pod.js';
import * as events from './pages/events.js';
import * as services from './pages/services.js';
import * as deploy from './pages/deploy.js';

const PAGES = [
  ['overview', 'Overview', overview], ['workloads', 'Workloads', workloads], ['pods', 'Pods', pods],
  ['events', 'Events', events], ['services', 'Services', services], ['deploy', 'Deploy', deploy],
];
const HIDDEN = { pod };

const state = { user: null, namespace: sessionStorage.getItem('shoal.namespace') || '', unmount: null, page: null };
const root = document.getElementById('app');

async function whoami() {
  const review = await request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  return ((review.status || {}).userInfo || {}).username || '?';
}

function signInView(message) {
  const tokenInput = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off',
    placeholder: 'bearer token', required: true });
  const msg = h('div', { class: 'msg', hidden: true });
  const attempt = async (token) => {
    setToken(token);
    try {
      state.user = await whoami();
      if (token) sessionStorage.setItem('shoal.token', token);
      else sessionStorage.setItem('shoal.cert', '1');
      start();
    } catch (e) {
      setToken(null);
      if (e instanceof ApiError && e.code === 401) {
        e.message = token ? 'the token was not accepted' : 'no client certificate was presented, or it was not accepted';
      }
      showError(msg, e);
    }
  };
  const form = h('form', { id: 'signin', class: 'signin', onsubmit: (ev) => { ev.preventDefault(); attempt(tokenInput.value.trim()); } },
    h('h1', {}, 'shoal'),
    h('p', {}, 'Sign in with a bearer token (a static token, a service-account token or an OIDC ID token), or with the client certificate your browser holds.'),
    h('label', { for: 'token' }, 'Token'), tokenInput,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', id: 'signin-token' }, 'Sign in'),
      h('button', { type: 'button', id: 'signin-cert', onclick: () => attempt('') }, 'Use client certificate')),
    msg);
  root.replaceChildren(form);
  if (message) showError(msg, message);
  tokenInput.focus();
}

function signOut() {
  sessionStorage.removeItem('shoal.token');
  sessionStorage.removeItem('shoal.cert');
  setToken(null);
  if (state.unmount) state.unmount();
  state.unmount = null;
  state.user = null;
  history.replaceState(null, '', '#/overview');
  signInView();
}

function header() {
  const nsInput = h('input', { id: 'namespace', list: 'namespaces', placeholder: 'all namespaces', value: state.namespace,
    size: 16, title: 'namespace (empty: all namespaces)' });
  const nsList = h('datalist', { id: 'namespaces' });
  nsInput.addEventListener('change', () => {
    state.namespace = nsInput.value.trim();
    sessionStorage.setItem('shoal.namespace', state.namespace);
    route();
  });
  // the namespaces the user may list, as suggestions (a user who may not list them types one)
  request('GET', '/api/v1/namespaces').then((list) => {
    nsList.replaceChildren(...list.items.map((n) => h('option', { value: n.metadata.name })));
  }, () => {});
  const nav = h('nav', {}, PAGES.map(([id, title]) => h('a', { href: `#/${id}`, id: `nav-${id}` }, title)));
  return h('header', {},
    h('a', { class: 'brand', href: '#/overview' }, 'shoal'), nav,
    h('div', { class: 'right' }, h('label', { for: 'namespace' }, 'Namespace '), nsInput, nsList,
      h('span', { class: 'user', id: 'user', title: 'signed in as' }, state.user),
      h('button', { id: 'signout', onclick: signOut }, 'Sign out')));
}

function route() {
  if (!state.user) return;
  const [name, ...args] = (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  const entry = PAGES.find(([id]) => id === name);
  const mod = entry ? entry[2] : HIDDEN[name] || overview;
  if (state.unmount) state.unmount();
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.id === `nav-${name}`);
  const main = document.getElementById('main');
  main.replaceChildren();
  const watches = [];
  const ctx = {
    namespace: state.namespace, args, user: state.user,
    watch(path, opts) {
      const w = new Watch(path, opts).start();
      watches.push(w);
      return w;
    },
    painted(what) { // the bench and the tests wait for this: every panel of the page has its first data
      document.body.dataset.painted = what;
      performance.mark(`shoal:${what}`);
    },
  };
  const unmount = mod.mount(main, ctx);
  const ages = setInterval(() => tickAges(main), 5000);
  state.unmount = () => {
    clearInterval(ages);
    for (const w of watches) w.stop();
    if (typeof unmount === 'function') unmount();
    delete document.body.dataset.painted;
  };
}

function start() {
  root.replaceChildren(header(), h('main', { id: 'main' }));
  if (!location.hash) history.replaceState(null, '', '#/overview');
  route();
}

window.addEventListener('hashchange', route);

async function boot() {
  const saved = sessionStorage.getItem('shoal.token');
  if (!saved && !sessionStorage.getItem('shoal.cert')) {
    signInView();
    return;
  }
  setToken(saved);
  // the page's lists start at once; who the user is arrives beside them (a refused token signs out)
  state.user = '…';
  start();
  try {
    state.user = await whoami();
    document.getElementById('user').textContent = state.user;
  } catch (e) {
    signOut();
    signInView(e);
  }
}

boot();

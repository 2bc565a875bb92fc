// What the pages show and send, as kubectl computes it. Pure: objects in, values out
// (tests import this module in the browser and check it against tables).

// ---- time -----------------------------------------------------------------------------------
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  const m = Math.floor(s / 60), h = Math.floor(s / 3600), d = Math.floor(s / 86400);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  return `${d}d`;
}

// ---- pods (kubectl get pods columns) ----------------------------------------------------------
export function podStatus(pod) {
  const st = pod.status || {};
  const spec = pod.spec || {};
  let reason = st.reason || st.phase || 'Pending';
  let restarts = 0;
  let ready = 0;
  let initializing = false;
  const inits = st.initContainerStatuses || [];
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i];
    const state = c.state || {};
    restarts += c.restartCount || 0;
    if (state.terminated && state.terminated.exitCode === 0) continue;
    initializing = true;
    if (state.terminated) {
      const t = state.terminated;
      reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`;
    } else if (state.waiting && state.waiting.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers || []).length}`;
    }
    break;
  }
  const containers = st.containerStatuses || [];
  if (!initializing) {
    restarts = 0;
    let running = false;
    for (let i = containers.length - 1; i >= 0; i--) {
      const c = containers[i];
      const state = c.state || {};
      restarts += c.restartCount || 0;
      if (state.waiting && state.waiting.reason) reason = state.waiting.reason;
      else if (state.terminated && state.terminated.reason) reason = state.terminated.reason;
      else if (state.terminated) reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`;
      else if (c.ready && state.running) {
        running = true;
        ready++;
      }
    }
    if (reason === 'Completed' && running) {
      const readyCond = (st.conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = readyCond ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp) reason = st.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return { status: reason, ready: `${ready}/${(spec.containers || []).length}`, restarts };
}

export const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export function phaseCounts(pods) {
  const counts = Object.fromEntries(PHASES.map((p) => [p, 0]));
  for (const p of pods) {
    const phase = (p.status && p.status.phase) || 'Pending';
    counts[phase in counts ? phase : 'Unknown']++;
  }
  return counts;
}

// ---- nodes -------------------------------------------------------------------------------------
export function nodeStatus(node) {
  const ready = ((node.status || {}).conditions || []).find((c) => c.type === 'Ready');
  let s = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  if ((node.spec || {}).unschedulable) s += ',SchedulingDisabled';
  return s;
}

// ---- workloads (kubectl get columns, one function per kind) ------------------------------------
export function workloadColumns(kind, o) {
  const spec = o.spec || {};
  const st = o.status || {};
  switch (kind) {
    case 'Deployment':
      return { READY: `${st.readyReplicas || 0}/${spec.replicas ?? 1}`, 'UP-TO-DATE': st.updatedReplicas || 0,
        AVAILABLE: st.availableReplicas || 0 };
    case 'StatefulSet':
      return { READY: `${st.readyReplicas || 0}/${spec.replicas ?? 1}` };
    case 'DaemonSet':
      return { DESIRED: st.desiredNumberScheduled || 0, CURRENT: st.currentNumberScheduled || 0,
        READY: st.numberReady || 0, 'UP-TO-DATE': st.updatedNumberScheduled || 0,
        AVAILABLE: st.numberAvailable || 0 };
    case 'Job':
      return { STATUS: jobStatus(o), COMPLETIONS: `${st.succeeded || 0}/${spec.completions ?? 1}` };
    case 'CronJob':
      return { SCHEDULE: spec.schedule || '', SUSPEND: spec.suspend ? 'True' : 'False',
        ACTIVE: (st.active || []).length, 'LAST SCHEDULE': st.lastScheduleTime ? age(st.lastScheduleTime) : '<none>' };
    default:
      return {};
  }
}

export function jobStatus(job) {
  const conds = (job.status || {}).conditions || [];
  const has = (t) => conds.some((c) => c.type === t && c.status === 'True');
  if (has('Failed')) return 'Failed';
  if (has('Complete')) return 'Complete';
  if (has('Suspended') || (job.spec || {}).suspend) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

export const SCALABLE = new Set(['Deployment', 'StatefulSet']);
export const RESTARTABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

// ---- kubectl's writes ----------------------------------------------------------------------------
// kubectl scale: a merge patch of the scale subresource
export const scalePatch = (replicas) => ({ spec: { replicas } });

// kubectl rollout restart: a strategic merge patch of the template's restartedAt annotation
export function restartPatch(now = new Date()) {
  const at = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } };
}

// ---- rollout history and undo (kubectl's DeploymentRollbacker and StatefulSet/DaemonSet ones) ---
const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
// annotations kubectl keeps from the deployment rather than copying from the ReplicaSet
const SKIPPED = ['kubectl.kubernetes.io/last-applied-configuration', REVISION, 'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'deprecated.deployment.rollback.to'];

const controlledBy = (o, owner) => ((o.metadata || {}).ownerReferences || [])
  .some((r) => r.controller && r.uid === owner.metadata.uid);

function revisionOf(o, kind) {
  const v = kind === 'Deployment' ? Number(((o.metadata || {}).annotations || {})[REVISION]) : Number(o.revision);
  return Number.isInteger(v) && v > 0 ? v : null;
}

function imagesOf(template) {
  return (((template || {}).spec || {}).containers || []).map((c) => c.image).join(',');
}

function templateOf(o, kind) {
  if (kind === 'Deployment') return (o.spec || {}).template || {};
  const t = { ...((((o.data || {}).spec) || {}).template || {}) };
  delete t.$patch;
  return t;
}

// [{revision, changeCause, images, name}] oldest first: the owner's ReplicaSets or ControllerRevisions
export function history(kind, owner, children) {
  return children.filter((c) => controlledBy(c, owner))
    .map((c) => ({ revision: revisionOf(c, kind), name: c.metadata.name, images: imagesOf(templateOf(c, kind)),
      changeCause: ((c.metadata || {}).annotations || {})[CHANGE_CAUSE] || '<none>' }))
    .filter((h) => h.revision !== null)
    .sort((a, b) => a.revision - b.revision);
}

function withoutHash(template) {
  const t = JSON.parse(JSON.stringify(template || {}));
  if (t.metadata && t.metadata.labels) {
    delete t.metadata.labels[HASH_LABEL];
    if (!Object.keys(t.metadata.labels).length) delete t.metadata.labels;
  }
  return t;
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

// the child that holds revision `to` (0: the one before the newest), or an error sentence as kubectl says it
function pick(kind, owner, children, to) {
  let max = 0, prev = 0, latest = null, previous = null;
  for (const c of children) {
    if (!controlledBy(c, owner)) continue;
    const v = revisionOf(c, kind);
    if (v === null) continue;
    if (to > 0) {
      if (v === to) return { child: c };
      continue;
    }
    if (v > max) {
      prev = max; previous = latest; max = v; latest = c;
    } else if (v > prev) {
      prev = v; previous = c;
    }
  }
  if (to > 0) return { error: `unable to find specified revision ${to} in history` };
  if (!previous) {
    return { error: kind === 'Deployment' ? `no rollout history found for deployment "${owner.metadata.name}"`
      : 'no last revision to roll back to' };
  }
  return { child: previous };
}

// kubectl rollout undo: {skipped: sentence} | {error: sentence} | {type, body} (the patch to send)
export function rollbackPatch(kind, owner, children, to = 0) {
  if (kind === 'Deployment' && (owner.spec || {}).paused) {
    return { error: "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again" };
  }
  const { child, error } = pick(kind, owner, children, to);
  if (error) return { error };
  const rev = revisionOf(child, kind);
  if (kind !== 'Deployment') {
    if (canonical(templateOf(child, kind)) === canonical((owner.spec || {}).template || {})) {
      return { skipped: `skipped rollback (current template already matches revision ${rev})` };
    }
    return { type: 'strategic', body: child.data, revision: rev };
  }
  const template = withoutHash(child.spec.template);
  if (canonical(template) === canonical(withoutHash(owner.spec.template))) {
    return { skipped: `skipped rollback (current template already matches revision ${rev})` };
  }
  const current = owner.metadata.annotations || {};
  const annotations = {};
  for (const k of SKIPPED) if (k in current) annotations[k] = current[k];
  for (const [k, v] of Object.entries(child.metadata.annotations || {})) if (!SKIPPED.includes(k)) annotations[k] = v;
  return { type: 'json', revision: rev, body: [
    { op: 'replace', path: '/spec/template', value: template },
    { op: 'replace', path: '/metadata/annotations', value: annotations },
  ] };
}

// ---- events ------------------------------------------------------------------------------------
export const eventTime = (e) => e.lastTimestamp || e.eventTime || (e.series || {}).lastObservedTime
  || e.firstTimestamp || e.metadata.creationTimestamp || '';

export function recentEvents(events, { warningsOnly = false, limit = 200 } = {}) {
  return events.filter((e) => !warningsOnly || e.type === 'Warning')
    .sort((a, b) => (eventTime(a) < eventTime(b) ? 1 : eventTime(a) > eventTime(b) ? -1 : 0))
    .slice(0, limit);
}

export function involved(e) {
  const o = e.involvedObject || e.regarding || {};
  return `${(o.kind || '').toLowerCase()}/${o.name || ''}`;
}

// ---- services ---------------------------------------------------------------------------------
export function servicePorts(svc) {
  return ((svc.spec || {}).ports || []).map((p) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol || 'TCP'}`).join(',') || '<none>';
}

export function endpointAddresses(ep) {
  const out = [];
  for (const s of (ep && ep.subsets) || []) {
    const ports = (s.ports || []).map((p) => p.port);
    for (const a of s.addresses || []) {
      for (const p of ports.length ? ports : [null]) out.push(p === null ? a.ip : `${a.ip}:${p}`);
    }
  }
  return out;
}

export function notReadyCount(ep) {
  return ((ep && ep.subsets) || []).reduce((n, s) => n + (s.notReadyAddresses || []).length, 0);
}

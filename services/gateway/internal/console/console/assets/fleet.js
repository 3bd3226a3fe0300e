// The fleet view: polls GET /v1/fleet every 2 s and keeps the last minutes of
// history in the page. Executions per second are derived from each
// executor's `completed` counters, which change with its heartbeats.

import {
  api, el, errorBox, fmtDuration, setupKeyField, VERDICTS, verdictColor, verdictLabel,
} from './common.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const WINDOW_MS = 10 * 60 * 1000; // the charts' time span
const STALE_MS = 15 * 1000; // a heartbeat older than this is flagged

const samples = []; // {t, pending, inFlight, rates: {verdict: per second}}
const executors = new Map(); // id -> {started, updated, completed, rates}
const rows = new Map(); // id -> table row parts
let last = null; // the last /v1/fleet answer
let lastOkAt = 0;
let paused = false;
let timer = 0;
let inFlight = false;

// ---- polling ------------------------------------------------------------------

async function poll() {
  clearTimeout(timer);
  if (paused || inFlight) return;
  inFlight = true;
  try {
    const { data } = await api('/v1/fleet');
    lastOkAt = Date.now();
    $('fleet-error').hidden = true;
    $('fleet-error').replaceChildren();
    update(data);
  } catch (e) {
    $('fleet-error').hidden = false;
    $('fleet-error').replaceChildren(errorBox(e, 'Could not read the fleet'));
    setLive('error');
  } finally {
    inFlight = false;
    if (!paused) timer = setTimeout(poll, POLL_MS);
  }
}

function setLive(mode) {
  const dot = $('live-dot');
  dot.className = 'live-dot' + (mode === 'paused' ? ' paused' : mode === 'error' ? ' error' : '');
  const when = lastOkAt ? new Date(lastOkAt).toLocaleTimeString() : 'never';
  $('live-text').textContent = mode === 'paused'
    ? `Paused (last update ${when})`
    : mode === 'error' ? `Not updating: retrying every ${POLL_MS / 1000} s (last update ${when})`
      : `Live · updated ${when}`;
}

function togglePause() {
  paused = !paused;
  const b = $('pause');
  b.setAttribute('aria-pressed', String(paused));
  b.textContent = paused ? 'Resume' : 'Pause';
  if (paused) {
    clearTimeout(timer);
    setLive('paused');
  } else {
    poll();
  }
}

// ---- figures --------------------------------------------------------------------

// updateRates follows each executor's counters. An executor's rate is the
// growth of its counters between its last two heartbeats; the fleet's rate
// is the sum over the live executors.
function updateRates(data) {
  const seen = new Set();
  for (const ex of data.executors) {
    seen.add(ex.id);
    const updated = Date.parse(ex.updated_at);
    const completed = { ...(ex.completed || {}) };
    const s = executors.get(ex.id);
    if (!s || s.started !== ex.started_at) {
      executors.set(ex.id, { started: ex.started_at, updated, completed, rates: {} });
      continue;
    }
    if (updated > s.updated) {
      const dt = (updated - s.updated) / 1000;
      const rates = {};
      for (const v of new Set([...Object.keys(completed), ...Object.keys(s.completed)])) {
        const d = (completed[v] || 0) - (s.completed[v] || 0);
        if (d > 0) rates[v] = d / dt;
      }
      Object.assign(s, { updated, completed, rates });
    }
  }
  for (const id of [...executors.keys()]) if (!seen.has(id)) executors.delete(id);
  const total = {};
  for (const s of executors.values()) {
    for (const [v, r] of Object.entries(s.rates)) total[v] = (total[v] || 0) + r;
  }
  return total;
}

function update(data) {
  last = data;
  const at = Date.parse(data.at) || Date.now();
  const rates = updateRates(data);
  samples.push({ t: at, pending: data.queue.pending, inFlight: data.queue.in_flight, rates });
  while (samples.length && samples[0].t < at - WINDOW_MS) samples.shift();
  setLive('live');
  renderTiles(data, rates);
  renderExecutors(data, at);
  draw();
}

function sum(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

function fmtRate(r) {
  if (!r) return '0';
  return r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
}

function tile(id, value, sub, bad) {
  const t = $(id);
  t.querySelector('[data-value]').textContent = value;
  t.querySelector('[data-sub]').textContent = sub || '';
  t.classList.toggle('bad', !!bad);
}

function renderTiles(data, rates) {
  const exs = data.executors;
  const problems = exs.filter((e) => e.problem).length;
  tile('tile-executors', String(exs.length - problems),
    problems ? `${problems} with a problem` : exs.length ? 'all healthy' : 'none is sending heartbeats',
    problems > 0 || exs.length === 0);
  const slots = exs.filter((e) => !e.problem).reduce((a, e) => a + e.slots, 0);
  const busy = exs.reduce((a, e) => a + e.busy, 0);
  tile('tile-slots', `${busy} / ${slots}`, slots ? `${Math.round((busy / slots) * 100)} % in use` : 'no usable slot', slots === 0);
  tile('tile-pending', String(data.queue.pending), data.queue.max > 0 ? `of ${data.queue.max} queued or running at most` : '',
    data.queue.max > 0 && data.queue.pending + data.queue.in_flight >= data.queue.max);
  tile('tile-inflight', String(data.queue.in_flight), `${data.queue.messages} jobs in the stream`);
  // Average over the last 30 s for the headline; the chart shows each poll.
  const recent = samples.filter((s) => s.t >= samples[samples.length - 1].t - 30000);
  const avg = recent.reduce((a, s) => a + sum(s.rates), 0) / Math.max(recent.length, 1);
  tile('tile-rate', fmtRate(avg), `now ${fmtRate(sum(rates))}/s · ${sum(totalCompleted(exs))} completed since start`);
  const withRuns = exs.filter((e) => sum(e.completed) > 0);
  if (withRuns.length === 0) {
    tile('tile-latency', '–', 'no execution yet');
  } else {
    const p50 = Math.max(...withRuns.map((e) => e.latency_p50_ms || 0));
    const p99 = Math.max(...withRuns.map((e) => e.latency_p99_ms || 0));
    tile('tile-latency', `${fmtLatency(p50)} / ${fmtLatency(p99)}`,
      withRuns.length > 1 ? `worst of ${withRuns.length} executors` : `executor ${withRuns[0].id}`);
  }
}

function fmtLatency(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 2)} s` : `${ms} ms`;
}

function totalCompleted(exs) {
  const t = {};
  for (const e of exs) for (const [v, n] of Object.entries(e.completed || {})) t[v] = (t[v] || 0) + n;
  return t;
}

// ---- executors table ------------------------------------------------------------

function renderExecutors(data, at) {
  const body = $('executors-body');
  const exs = [...data.executors].sort((a, b) => a.id.localeCompare(b.id));
  if (exs.length === 0) {
    rows.clear();
    body.replaceChildren(el('tr', {}, el('td', { colspan: '10', class: 'placeholder' },
      'No executor is sending heartbeats. Start one (airlock executor, or airlock dev).')));
    return;
  }
  if (!body.querySelector('tr[data-executor]')) body.replaceChildren();
  const seen = new Set();
  for (const ex of exs) {
    seen.add(ex.id);
    let r = rows.get(ex.id);
    if (!r) {
      r = makeRow(ex.id);
      rows.set(ex.id, r);
    }
    fillRow(r, ex, at);
    body.append(r.tr); // keeps the sorted order
  }
  for (const [id, r] of rows) {
    if (!seen.has(id)) {
      r.tr.remove();
      rows.delete(id);
    }
  }
}

function makeRow(id) {
  const cells = {};
  const td = (name, cls) => (cells[name] = el('td', { class: cls || null, 'data-col': name }));
  const tr = el('tr', { 'data-executor': id },
    td('id'), td('state'), td('busy'), td('pool'), td('completed', 'num'), td('p50', 'num'), td('p99', 'num'),
    td('runtimes'), td('up', 'num'), td('heartbeat', 'num'));
  cells.id.append(el('code', {}, id));
  return { tr, cells, runtimesKey: null, poolKey: null };
}

function fillRow(r, ex, at) {
  const c = r.cells;
  r.tr.classList.toggle('problem', !!ex.problem);
  c.state.replaceChildren(ex.problem
    ? el('span', { class: 'bad-text' }, 'problem: ', ex.problem)
    : el('span', { class: 'ok' }, 'ok'));
  const bar = el('span', { class: 'bar', 'aria-hidden': 'true' }, el('span'));
  bar.firstChild.style.width = ex.slots ? `${Math.min(100, (ex.busy / ex.slots) * 100)}%` : '0';
  c.busy.replaceChildren(`${ex.busy} / ${ex.slots}`, bar);

  const pool = Object.entries(ex.warm_pool || {}).sort(([a], [b]) => a.localeCompare(b));
  const poolKey = JSON.stringify(pool);
  if (poolKey !== r.poolKey) {
    r.poolKey = poolKey;
    c.pool.replaceChildren(...(pool.length
      ? pool.map(([lang, n]) => el('span', { class: 'pool', title: `${n} idle warm sandbox(es) for ${lang}` }, `${lang} ${n}`))
      : ['–']));
  }

  const completed = ex.completed || {};
  c.completed.textContent = String(sum(completed));
  c.completed.title = VERDICTS.filter((v) => completed[v]).map((v) => `${verdictLabel(v)}: ${completed[v]}`).join('\n') || 'none yet';
  const any = sum(completed) > 0;
  c.p50.textContent = any ? fmtLatency(ex.latency_p50_ms) : '–';
  c.p99.textContent = any ? fmtLatency(ex.latency_p99_ms) : '–';

  const runtimes = (ex.runtimes || []).map((rt) => `${rt.language} ${rt.version}`);
  const key = runtimes.join('|');
  if (key !== r.runtimesKey) {
    r.runtimesKey = key;
    const open = c.runtimes.querySelector('details')?.open || false;
    c.runtimes.replaceChildren(runtimes.length
      ? el('details', { class: 'runtimes', open },
        el('summary', {}, `${runtimes.length} language${runtimes.length === 1 ? '' : 's'}`),
        el('ul', {}, runtimes.map((s) => el('li', {}, s))))
      : '–');
  }
  const started = Date.parse(ex.started_at);
  c.up.textContent = started ? fmtDuration((at - started) / 1000) : '–';
  const age = at - Date.parse(ex.updated_at);
  c.heartbeat.textContent = Number.isFinite(age) ? `${Math.max(0, Math.round(age / 1000))} s ago` : '–';
  c.heartbeat.classList.toggle('bad-text', age > STALE_MS);
}

// ---- charts -------------------------------------------------------------------

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const ch of children) if (ch) node.append(ch instanceof Node ? ch : document.createTextNode(String(ch)));
  return node;
}

// niceMax is the top of a chart's y axis: four grid steps of 1, 2, 2.5 or 5
// times a power of ten (at least minStep each) that cover v.
function niceMax(v, minStep) {
  const want = Math.max(v / 4, minStep);
  const p = 10 ** Math.floor(Math.log10(want));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= want - 1e-9) return 4 * m * p;
  return 40 * p;
}

function fmtTick(v) {
  return String(+v.toFixed(2));
}

// frame draws the axes of a chart and returns its scales.
function frame(node, yMax, now) {
  const w = node.clientWidth || 600;
  const h = node.clientHeight || 190;
  node.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const m = { l: 40, r: 12, t: 8, b: 20 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const t0 = now - WINDOW_MS;
  const x = (t) => m.l + ((t - t0) / WINDOW_MS) * pw;
  const y = (v) => m.t + ph - (v / yMax) * ph;
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(svg('line', { class: 'grid', x1: m.l, x2: m.l + pw, y1: y(v), y2: y(v) }));
    parts.push(svg('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtTick(v)));
  }
  for (let min = 10; min >= 0; min -= 2) {
    const t = now - min * 60000;
    parts.push(svg('text', { x: x(t), y: h - 5, 'text-anchor': min === 10 ? 'start' : min === 0 ? 'end' : 'middle' },
      min === 0 ? 'now' : `−${min} min`));
  }
  node.replaceChildren(...parts);
  return { x, y, m, pw, ph };
}

const QUEUE_SERIES = [
  { key: 'pending', label: 'pending', color: '#bc4c00' },
  { key: 'inFlight', label: 'in flight', color: '#0969da' },
];

function draw() {
  if (!samples.length) return;
  const now = samples[samples.length - 1].t;

  // Queue: one line per series.
  const qNode = $('queue-chart');
  const qMax = niceMax(Math.max(...samples.map((s) => Math.max(s.pending, s.inFlight))), 1);
  const q = frame(qNode, qMax, now);
  for (const s of QUEUE_SERIES) {
    const pts = samples.map((p) => `${q.x(p.t).toFixed(1)},${q.y(p[s.key]).toFixed(1)}`).join(' ');
    qNode.append(svg('polyline', { points: pts, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
    const lastP = samples[samples.length - 1];
    qNode.append(svg('circle', { cx: q.x(lastP.t), cy: q.y(lastP[s.key]), r: 3, fill: s.color }));
  }
  const lastS = samples[samples.length - 1];
  $('queue-legend').replaceChildren(...QUEUE_SERIES.map((s) => el('span', {},
    swatch(s.color), `${s.label} `, el('b', {}, String(lastS[s.key])))));
  qNode.setAttribute('aria-label', `Queue: ${lastS.pending} pending, ${lastS.inFlight} in flight now`);

  // Rates: one stacked bar per poll, coloured by verdict.
  const rNode = $('rate-chart');
  const rMax = niceMax(Math.max(...samples.map((s) => sum(s.rates))), 0.25);
  const r = frame(rNode, rMax, now);
  // Each bar spans the time since the previous poll.
  samples.forEach((s, i) => {
    const from = i > 0 ? samples[i - 1].t : s.t - POLL_MS;
    const barW = Math.max(1, r.x(s.t) - r.x(from));
    let base = 0;
    for (const v of VERDICTS) {
      const val = s.rates[v];
      if (!val) continue;
      const y0 = r.y(base);
      const y1 = r.y(base + val);
      rNode.append(svg('rect', {
        x: (r.x(s.t) - barW).toFixed(1), y: y1.toFixed(1), width: barW.toFixed(1), height: Math.max(0.5, y0 - y1).toFixed(1),
        fill: verdictColor(v),
      }, svg('title', {}, `${verdictLabel(v)}: ${fmtRate(val)}/s`)));
      base += val;
    }
  });
  const totals = totalCompleted(last ? last.executors : []);
  const shown = VERDICTS.filter((v) => totals[v] || lastS.rates[v] || v === 'accepted');
  $('rate-legend').replaceChildren(...shown.map((v) => el('span', { 'data-verdict': v },
    swatch(verdictColor(v)), `${verdictLabel(v)} `, el('b', {}, `${fmtRate(lastS.rates[v] || 0)}/s`),
    el('span', { class: 'hint' }, ` (${totals[v] || 0} total)`))));
  rNode.setAttribute('aria-label', `Executions per second now: ${fmtRate(sum(lastS.rates))}`);
}

function swatch(color) {
  const s = el('span', { class: 'sw', 'aria-hidden': 'true' });
  s.style.background = color;
  return s;
}

// ---- start --------------------------------------------------------------------

function init() {
  setupKeyField(() => poll());
  $('pause').addEventListener('click', togglePause);
  document.addEventListener('keydown', (e) => {
    const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName));
    if (!typing && !e.ctrlKey && !e.metaKey && !e.altKey && (e.key === 'p' || e.key === 'P')) togglePause();
  });
  let resize = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(draw, 100);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !paused) poll();
  });
  poll();
}

init();

// Shared by the playground and the fleet view: the API key (kept in this
// browser's localStorage only), API calls, readable errors, verdict names and
// a tiny DOM helper. No dependencies, no build step.

export const KEY_STORAGE = 'airlock.console.apiKey';

export function getKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives for this page only */
  }
}

let memoryKey = null; // used when localStorage is unavailable

function currentKey() {
  return memoryKey !== null ? memoryKey : getKey();
}

// An API error: the HTTP status and the API's error body
// ({"error":{"code","message","field"}}), or status 0 for a network failure.
export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
    this.retryAfter = retryAfter || '';
  }
}

// api calls the gateway's API on this origin with the key typed in the page.
// It resolves with {status, data} for 2xx answers and throws an ApiError
// otherwise.
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const key = currentKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The gateway could not be reached (' + (e && e.message ? e.message : e) + ').');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : null;
    throw new ApiError(
      resp.status,
      err && err.code ? err.code : 'http_' + resp.status,
      err && err.message ? err.message : (text.trim().slice(0, 300) || resp.statusText || 'request failed'),
      err ? err.field : '',
      resp.headers.get('Retry-After'),
    );
  }
  return { status: resp.status, data, headers: resp.headers };
}

// describeError turns an error into a title, a detail and a hint for people.
export function describeError(err) {
  if (!(err instanceof ApiError)) {
    return { title: 'Unexpected error', detail: String(err && err.message ? err.message : err), hint: '' };
  }
  const title = err.status ? `HTTP ${err.status} · ${err.code}` : 'Network error';
  let detail = err.message;
  if (err.field) detail = `${err.field}: ${detail}`;
  let hint = '';
  switch (err.status) {
    case 0:
      hint = 'Is the gateway running? The console only talks to the server that served it.';
      break;
    case 401:
      hint = 'This gateway requires an API key: type it in the “API key” field at the top of the page.';
      break;
    case 403:
      hint = 'The API key was refused: check the “API key” field at the top of the page.';
      break;
    case 429:
      hint = err.retryAfter ? `Try again in ${err.retryAfter} s.` : 'Try again in a moment.';
      break;
    case 503:
      hint = err.code === 'no_executor'
        ? 'No executor is live: start one (the fleet view shows the executors).'
        : (err.retryAfter ? `Try again in ${err.retryAfter} s.` : 'Try again in a moment.');
      break;
  }
  return { title, detail, hint };
}

// errorBox renders an error as a block (role=alert, so screen readers hear it).
export function errorBox(err, prefix) {
  const { title, detail, hint } = describeError(err);
  return el('div', { class: 'error-box', role: 'alert' },
    el('div', { class: 'error-title' }, prefix ? `${prefix}: ${title}` : title),
    el('div', { class: 'error-detail' }, detail),
    hint ? el('div', { class: 'error-hint' }, hint) : null);
}

export const VERDICTS = [
  'accepted', 'wrong_answer', 'compile_error', 'runtime_error', 'time_limit_exceeded',
  'memory_limit_exceeded', 'output_limit_exceeded', 'internal_error', 'skipped',
  'presentation_error', 'partial', 'judge_error',
];

const VERDICT_LABELS = {
  accepted: 'Accepted',
  wrong_answer: 'Wrong answer',
  compile_error: 'Compile error',
  runtime_error: 'Runtime error',
  time_limit_exceeded: 'Time limit exceeded',
  memory_limit_exceeded: 'Memory limit exceeded',
  output_limit_exceeded: 'Output limit exceeded',
  internal_error: 'Internal error',
  skipped: 'Skipped',
  presentation_error: 'Presentation error',
  partial: 'Partial',
  judge_error: 'Judge error',
};

export function verdictLabel(v) {
  return VERDICT_LABELS[v] || (v ? v.replace(/_/g, ' ') : 'pending');
}

// verdictColor reads the verdict's colour from the stylesheet (for charts).
export function verdictColor(v) {
  const c = getComputedStyle(document.documentElement).getPropertyValue('--v-' + v).trim();
  return c || getComputedStyle(document.documentElement).getPropertyValue('--v-pending').trim() || '#6e7781';
}

export function verdictBadge(v, big) {
  return el('span', {
    class: `verdict v-${v || 'pending'}${big ? ' big' : ''}`,
    'data-verdict': v || '',
  }, verdictLabel(v));
}

// el builds an element: attributes (class, data-*, aria-*, on* handlers,
// boolean properties) and children (strings, nodes, arrays; null is skipped).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// setupKeyField wires the header's API key field: it shows the stored key,
// saves changes to localStorage (never anywhere else) and calls onChange
// once typing pauses.
export function setupKeyField(onChange) {
  const input = document.getElementById('api-key');
  const show = document.getElementById('api-key-show');
  const state = document.getElementById('api-key-state');
  if (!input) return;
  input.value = getKey();
  const describe = () => {
    if (state) state.textContent = input.value ? 'saved in this browser' : 'no key';
  };
  describe();
  let timer = 0;
  const commit = () => {
    clearTimeout(timer);
    const key = input.value.trim();
    if (key === currentKey()) return;
    storeKey(key);
    if (getKey() !== key) memoryKey = key; // localStorage refused it
    describe();
    if (onChange) onChange(key);
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(commit, 400);
  });
  input.addEventListener('change', commit);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') commit();
  });
  if (show) {
    show.addEventListener('click', () => {
      const visible = input.type === 'text';
      input.type = visible ? 'password' : 'text';
      show.setAttribute('aria-pressed', String(!visible));
      show.textContent = visible ? 'Show' : 'Hide';
    });
  }
  // Another tab of the console changed the key.
  window.addEventListener('storage', (e) => {
    if (e.key !== KEY_STORAGE) return;
    input.value = e.newValue || '';
    memoryKey = null;
    describe();
    if (onChange) onChange(input.value);
  });
}

// tablist adds arrow-key navigation (Left/Right/Home/End) to a role=tablist.
export function tablist(container) {
  container.addEventListener('keydown', (e) => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    const tabs = [...container.querySelectorAll('[role="tab"]')];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    let j = i;
    if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = tabs.length - 1;
    tabs[j].focus();
    tabs[j].click();
  });
}

export function fmtMs(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms >= 10000) return (ms / 1000).toFixed(1) + ' s';
  return Math.round(ms) + ' ms';
}

export function fmtKB(kb) {
  if (kb === undefined || kb === null) return '–';
  if (kb < 1024) return kb + ' KiB';
  return (kb / 1024).toFixed(1) + ' MiB';
}

export function fmtBytes(b) {
  if (b === undefined || b === null || b === '') return '–';
  b = Number(b);
  if (b < 1024) return b + ' B';
  if (b < 1024 * 1024) return +(b / 1024).toFixed(1) + ' KiB';
  return +(b / 1024 / 1024).toFixed(1) + ' MiB';
}

export function fmtDuration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + ' s';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + (seconds % 60) + ' s';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ' + Math.floor((seconds % 3600) / 60) + ' min';
  return Math.floor(seconds / 86400) + ' d ' + Math.floor((seconds % 86400) / 3600) + ' h';
}

// base64url of the UTF-8 bytes of a string, and back (the share links).
export function toBase64url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(s) {
  s = s.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

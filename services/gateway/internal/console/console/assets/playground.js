// The playground: edit files, input, limits and tests; run them through
// POST /v1/execute; show every stage and test. The editor state can be put in
// the page's link (#s=<base64url JSON>), nothing is stored on the server.

import {
  api, ApiError, el, errorBox, fmtBytes, fmtKB, fmtMs, fromBase64url, setupKeyField, tablist,
  toBase64url, verdictBadge, verdictLabel,
} from './common.js';

const $ = (id) => document.getElementById(id);

// Starter programs: read a name from stdin, greet it.
const SAMPLES = {
  python: 'import sys\n\nname = sys.stdin.readline().strip() or "world"\nprint(f"Hello, {name}!")\n',
  javascript: "const input = require('fs').readFileSync(0, 'utf8');\nconst name = input.trim().split(/\\s+/)[0] || 'world';\nconsole.log(`Hello, ${name}!`);\n",
  typescript: "import * as fs from 'fs';\n\nconst name: string = fs.readFileSync(0, 'utf8').trim().split(/\\s+/)[0] || 'world';\nconsole.log(`Hello, ${name}!`);\n",
  c: '#include <stdio.h>\n\nint main(void) {\n    char name[100] = "world";\n    if (scanf("%99s", name) != 1) {\n        /* keep the default */\n    }\n    printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
  'c++': '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    if (!(std::cin >> name)) name = "world";\n    std::cout << "Hello, " << name << "!\\n";\n}\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        String name = in.hasNext() ? in.next() : "world";\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tname := "world"\n\tfmt.Scan(&name)\n\tfmt.Printf("Hello, %s!\\n", name)\n}\n',
  bash: 'read -r name || true\necho "Hello, ${name:-world}!"\n',
  sh: 'read -r name || true\necho "Hello, ${name:-world}!"\n',
  ruby: 'name = ($stdin.gets || "").strip\nname = "world" if name.empty?\nputs "Hello, #{name}!"\n',
  rust: 'use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let name = s.split_whitespace().next().unwrap_or("world");\n    println!("Hello, {}!", name);\n}\n',
  php: '<?php\n$name = trim((string) fgets(STDIN));\nif ($name === "") $name = "world";\necho "Hello, $name!\\n";\n',
  perl: 'my $name = <STDIN> // "";\nchomp $name;\n$name = "world" if $name eq "";\nprint "Hello, $name!\\n";\n',
  lua: 'local name = io.read("l") or ""\nif name == "" then name = "world" end\nprint("Hello, " .. name .. "!")\n',
};
const SAMPLE_TEXTS = new Set(Object.values(SAMPLES));

const LIMIT_FIELDS = [
  { id: 'lim-cpu', key: 'cpu_time_ms', unit: 'ms' },
  { id: 'lim-wall', key: 'wall_time_ms', unit: 'ms' },
  { id: 'lim-mem', key: 'memory_mb', unit: 'MiB' },
  { id: 'lim-out', key: 'output_bytes', unit: 'bytes' },
];

const LANGUAGE_STORAGE = 'airlock.console.language';

let runtimes = []; // GET /v1/runtimes
let runtimesLoaded = false;
const state = {
  runtime: -1, // index into runtimes
  files: [{ name: 'main.py', content: SAMPLES.python }],
  active: 0,
  tests: [], // {name, stdin, expected, args}
};
let wanted = null; // {language, version} to select once the runtimes are known
let renaming = -1; // index of the file whose tab is an input
let escapeTab = false; // Esc was pressed in the editor: the next Tab leaves it
let running = null; // AbortController of the execution being waited for

// ---- notices --------------------------------------------------------------

// notice shows a message above the editor; kind names its source, so that
// clearing one kind (a bad file name) keeps another (the runtimes' error).
function notice(content, kind = 'general') {
  const box = $('notice');
  if (!content) {
    if (box.dataset.kind && box.dataset.kind !== kind) return;
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.kind;
    return;
  }
  box.hidden = false;
  box.dataset.kind = kind;
  box.replaceChildren(content);
}

// ---- runtimes -------------------------------------------------------------

async function loadRuntimes() {
  const select = $('language');
  try {
    const { data } = await api('/v1/runtimes');
    runtimes = (data && data.runtimes) || [];
  } catch (e) {
    runtimes = [];
    runtimesLoaded = false;
    select.replaceChildren(el('option', {}, 'unavailable'));
    select.disabled = true;
    $('run').disabled = true;
    const box = errorBox(e, 'Could not list the languages');
    box.id = 'runtimes-error';
    notice(box, 'runtimes');
    return;
  }
  runtimesLoaded = true;
  notice(null, 'runtimes');
  if (runtimes.length === 0) {
    select.replaceChildren(el('option', {}, 'none served'));
    select.disabled = true;
    $('run').disabled = true;
    notice(el('div', { id: 'runtimes-error' }, 'No language is served right now: no executor is live. The fleet view shows the executors.'), 'runtimes');
    return;
  }
  select.replaceChildren(...runtimes.map((rt, i) => el('option', {
    value: String(i),
    title: rt.aliases && rt.aliases.length ? 'also: ' + rt.aliases.join(', ') : null,
  }, `${rt.language} ${rt.version}`)));
  select.disabled = false;
  $('run').disabled = !!running;

  let want = wanted;
  if (!want) {
    let stored = '';
    try { stored = localStorage.getItem(LANGUAGE_STORAGE) || ''; } catch { /* none */ }
    want = { language: stored || 'python', version: '' };
  }
  let i = findRuntime(want.language, want.version);
  if (i < 0 && wanted) {
    const what = wanted.version ? `${wanted.language} ${wanted.version}` : wanted.language;
    const alt = findRuntime(wanted.language, '');
    notice(el('div', {}, `The link asks for ${what}, which this gateway does not serve; ` +
      (alt >= 0 ? `using ${runtimes[alt].language} ${runtimes[alt].version}.` : 'pick a language.')));
    i = alt;
  }
  if (i < 0) i = findRuntime('python', '');
  if (i < 0) i = 0;
  wanted = null;
  selectRuntime(i, false);
}

function findRuntime(language, version) {
  if (!language) return -1;
  const l = language.toLowerCase();
  const matches = (rt) => rt.language === l || (rt.aliases || []).includes(l);
  for (let i = 0; i < runtimes.length; i++) {
    const rt = runtimes[i];
    if (!matches(rt)) continue;
    if (!version || rt.version === version || rt.version.startsWith(version + '.')) return i;
  }
  return -1;
}

// selectRuntime switches the language. When adapt is set, a starter program
// or an empty single file becomes the new language's starter, and an entry
// file named after the old language's convention is renamed.
function selectRuntime(i, adapt) {
  const prev = runtimes[state.runtime];
  const rt = runtimes[i];
  state.runtime = i;
  $('language').value = String(i);
  if (!rt) return;
  if (adapt !== false || isStarter()) {
    const first = state.files[0];
    if (state.files.length === 1 && (first.content.trim() === '' || SAMPLE_TEXTS.has(first.content))) {
      first.name = rt.entry_file || first.name;
      first.content = SAMPLES[rt.language] || '';
    } else if (prev && first.name === prev.entry_file && rt.entry_file &&
      !state.files.some((f) => f.name === rt.entry_file)) {
      first.name = rt.entry_file;
    }
  }
  for (const f of LIMIT_FIELDS) {
    const input = $(f.id);
    const def = rt.default_limits ? rt.default_limits[f.key] : undefined;
    const max = rt.max_limits ? rt.max_limits[f.key] : undefined;
    input.placeholder = def !== undefined ? String(def) : '';
    if (max) input.max = String(max);
    const show = f.key === 'output_bytes' ? fmtBytes : (v) => `${v} ${f.unit}`;
    $(f.id + '-hint').textContent = def !== undefined ? `default ${show(def)} · max ${show(max)}` : '';
  }
  try { localStorage.setItem(LANGUAGE_STORAGE, rt.language); } catch { /* ignore */ }
  renderFiles();
  loadEditor();
}

function isStarter() {
  return state.files.length === 1 && (state.files[0].content.trim() === '' || SAMPLE_TEXTS.has(state.files[0].content));
}

// ---- files and editor -----------------------------------------------------

function renderFiles() {
  const tabs = $('file-tabs');
  tabs.replaceChildren(...state.files.map((f, i) => {
    if (i === renaming) {
      const input = el('input', {
        type: 'text', class: 'tab-rename', id: 'file-rename-input', value: f.name,
        'aria-label': `New name of ${f.name}`, spellcheck: 'false',
      });
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commitRename(true);
        } else if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          cancelRename();
        }
      });
      input.addEventListener('blur', () => commitRename(false));
      return input;
    }
    return el('button', {
      type: 'button', class: 'tab', role: 'tab', 'data-file': f.name,
      'aria-selected': String(i === state.active), 'aria-controls': 'editor',
      tabindex: i === state.active ? '0' : '-1',
      title: i === 0 ? 'entry file (double-click to rename)' : 'double-click to rename',
      onclick: () => selectFile(i),
      ondblclick: () => startRename(i),
    }, f.name, i === 0 ? el('span', { class: 'entry' }, 'entry') : null);
  }));
  $('file-remove').disabled = state.files.length <= 1;
  $('editor').setAttribute('aria-label', `Source of ${state.files[state.active].name}`);
}

function selectFile(i) {
  if (i === state.active || i < 0 || i >= state.files.length) return;
  state.active = i;
  renderFiles();
  loadEditor();
}

function loadEditor() {
  const editor = $('editor');
  editor.value = state.files[state.active].content;
  editor.scrollTop = 0;
  editor.scrollLeft = 0;
  updateGutter();
}

let gutterLines = 0;
function updateGutter() {
  const editor = $('editor');
  const lines = editor.value.split('\n').length;
  if (lines !== gutterLines) {
    gutterLines = lines;
    let text = '';
    for (let i = 1; i <= lines; i++) text += i + '\n';
    $('gutter').textContent = text + '\n\n'; // room for a horizontal scrollbar
  }
  $('gutter').scrollTop = editor.scrollTop;
}

function startRename(i) {
  if (renaming >= 0) commitRename(false);
  state.active = i;
  renaming = i;
  renderFiles();
  loadEditor();
  const input = $('file-rename-input');
  if (input) {
    input.focus();
    const dot = input.value.lastIndexOf('.');
    input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
  }
}

function cancelRename() {
  if (renaming < 0) return;
  renaming = -1;
  renderFiles();
  focusActiveTab();
}

// commitRename applies the typed name. From Enter an invalid name keeps the
// field open; from leaving the field it is dropped.
function commitRename(fromEnter) {
  if (renaming < 0) return;
  const input = $('file-rename-input');
  const i = renaming;
  const name = input ? input.value.trim() : state.files[i].name;
  const problem = checkName(name, i);
  if (problem) {
    notice(el('div', { role: 'alert' }, `The file name “${name}” ${problem}.`), 'name');
    if (fromEnter) return;
  } else {
    notice(null, 'name');
    state.files[i].name = name;
  }
  renaming = -1;
  renderFiles();
  if (fromEnter) focusActiveTab();
}

function checkName(name, index) {
  if (!name) return 'is empty';
  if (name.startsWith('/')) return 'must be relative (no leading /)';
  const parts = name.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return 'has an empty, . or .. component';
  if (parts.some((p) => !/^[A-Za-z0-9._+@-]+$/.test(p))) return 'may only use letters, digits and . _ + @ - (and / between folders)';
  if (parts.some((p) => p.startsWith('-'))) return 'has a component starting with -';
  if (state.files.some((f, j) => j !== index && f.name === name)) return 'is already used';
  return '';
}

function focusActiveTab() {
  const tab = $('file-tabs').querySelector('[aria-selected="true"]');
  if (tab) tab.focus();
}

function addFile() {
  if (renaming >= 0) commitRename(false);
  const entry = state.files[0] ? state.files[0].name : '';
  const dot = entry.lastIndexOf('.');
  const ext = dot > 0 ? entry.slice(dot) : '';
  let n = state.files.length + 1;
  while (state.files.some((f) => f.name === `file${n}${ext}`)) n++;
  state.files.push({ name: `file${n}${ext}`, content: '' });
  startRename(state.files.length - 1);
}

function removeFile() {
  if (state.files.length <= 1) return;
  if (renaming >= 0) cancelRename();
  state.files.splice(state.active, 1);
  state.active = Math.min(state.active, state.files.length - 1);
  renderFiles();
  loadEditor();
  focusActiveTab();
}

function insertText(editor, text) {
  // execCommand keeps the browser's undo history; setRangeText is the fallback.
  if (!document.execCommand || !document.execCommand('insertText', false, text)) {
    const { selectionStart: s, selectionEnd: e } = editor;
    editor.setRangeText(text, s, e, 'end');
    editor.dispatchEvent(new Event('input'));
  }
}

function indentUnit() {
  const rt = runtimes[state.runtime];
  const name = state.files[state.active].name;
  return (rt && rt.language === 'go') || /(^|\/)(Makefile|.*\.go)$/.test(name) ? '\t' : '    ';
}

function editorKeydown(e) {
  const editor = e.target;
  if (e.key === 'Escape') {
    escapeTab = true;
    return;
  }
  if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
    if (escapeTab) {
      escapeTab = false;
      return; // leave the editor
    }
    e.preventDefault();
    insertText(editor, indentUnit());
    return;
  }
  escapeTab = false;
  if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey) {
    const before = editor.value.slice(0, editor.selectionStart);
    const line = before.slice(before.lastIndexOf('\n') + 1);
    let indent = line.match(/^[ \t]*/)[0];
    if (/[:{[(]\s*$/.test(line)) indent += indentUnit();
    e.preventDefault();
    insertText(editor, '\n' + indent);
  }
}

// ---- panels and tests -----------------------------------------------------

function selectPanel(name) {
  for (const p of ['input', 'tests', 'limits']) {
    const on = p === name;
    $('tab-' + p).setAttribute('aria-selected', String(on));
    $('tab-' + p).tabIndex = on ? 0 : -1;
    $('panel-' + p).hidden = !on;
  }
}

function renderTests() {
  const list = $('tests');
  list.replaceChildren(...state.tests.map((t, i) => {
    const area = (key, label, rows, cls) => el('div', { class: 'field' },
      el('label', { for: `test-${i}-${key}` }, label),
      el('textarea', {
        id: `test-${i}-${key}`, class: cls || null, rows: String(rows), spellcheck: 'false', value: t[key],
        oninput: (e) => { t[key] = e.target.value; },
      }));
    return el('li', { class: 'test', 'data-test': String(i) },
      el('div', { class: 'test-head' },
        el('span', { class: 'test-no' }, `Test ${i + 1}`),
        el('input', {
          type: 'text', id: `test-${i}-name`, placeholder: 'name (optional)', value: t.name,
          'aria-label': `Name of test ${i + 1}`, oninput: (e) => { t.name = e.target.value; },
        }),
        el('button', {
          type: 'button', class: 'small', 'aria-label': `Remove test ${i + 1}`,
          onclick: () => removeTest(i),
        }, 'Remove')),
      el('div', { class: 'test-grid' },
        area('stdin', 'stdin', 2),
        area('expected', 'expected output (empty: not compared)', 2)),
      area('args', 'arguments, one per line (empty: the Input tab’s)', 1, 'args'));
  }));
  const n = state.tests.length;
  $('tests-count').textContent = n ? `(${n})` : '';
  $('single-expected').hidden = n > 0;
  $('judge-note').hidden = n === 0;
}

function addTest() {
  state.tests.push({ name: '', stdin: '', expected: '', args: '' });
  renderTests();
  $(`test-${state.tests.length - 1}-stdin`).focus();
}

function removeTest(i) {
  state.tests.splice(i, 1);
  renderTests();
  const next = $(`test-${Math.min(i, state.tests.length - 1)}-stdin`);
  (next || $('test-add')).focus();
}

function updateTolerances() {
  $('tolerances').hidden = $('compare').value !== 'float';
}

// ---- request --------------------------------------------------------------

const lines = (text) => text.split('\n').map((s) => s.replace(/\r$/, '')).filter((s) => s !== '');

function buildRequest() {
  const rt = runtimes[state.runtime];
  const req = {
    language: rt.language,
    version: rt.version,
    files: state.files.map((f) => ({ name: f.name, content: f.content })),
  };
  const args = lines($('args').value);
  if (args.length) req.args = args;
  const limits = {};
  for (const f of LIMIT_FIELDS) {
    const v = $(f.id).value.trim();
    if (v !== '') limits[f.key] = Number(v);
  }
  if (Object.keys(limits).length) req.limits = limits;
  const compare = $('compare').value;
  if (state.tests.length) {
    req.tests = state.tests.map((t) => {
      const tc = { stdin: t.stdin };
      if (t.name.trim()) tc.name = t.name.trim();
      if (t.expected !== '') tc.expected_output = t.expected;
      const targs = lines(t.args);
      if (targs.length) tc.args = targs;
      return tc;
    });
    if ($('stop-first').checked) req.stop_on_first_failure = true;
  } else {
    if ($('stdin').value) req.stdin = $('stdin').value;
    if ($('expected').value !== '') req.expected_output = $('expected').value;
  }
  if (compare !== 'trim') req.compare = compare;
  if (compare === 'float') {
    const abs = $('abs-tol').value.trim();
    const rel = $('rel-tol').value.trim();
    if (abs !== '') req.abs_tolerance = Number(abs);
    if (rel !== '') req.rel_tolerance = Number(rel);
  }
  return req;
}

// ---- running --------------------------------------------------------------

async function run() {
  if (running) return;
  if (renaming >= 0) commitRename(false);
  if (!runtimesLoaded || !runtimes[state.runtime]) {
    $('result').replaceChildren(errorBox(new ApiError(0, 'no_language', 'No language is selected: the list of languages could not be loaded.'), 'Cannot run'));
    return;
  }
  const req = buildRequest();
  const controller = new AbortController();
  running = controller;
  $('run').disabled = true;
  $('stop').hidden = false;
  const started = performance.now();
  const status = el('span', { class: 'meta', id: 'run-status' }, 'submitting…');
  const elapsed = el('span', { class: 'meta' }, '');
  $('result').replaceChildren(el('div', { class: 'result-head', id: 'running' },
    el('span', { class: 'spinner', 'aria-hidden': 'true' }),
    el('strong', {}, `Running ${req.language} ${req.version}`), status, elapsed));
  const tick = setInterval(() => {
    elapsed.textContent = ((performance.now() - started) / 1000).toFixed(1) + ' s';
  }, 100);
  try {
    let { status: code, data } = await api('/v1/execute?timeout=120s', { method: 'POST', body: req, signal: controller.signal });
    while (code === 202 && data && data.id && data.status !== 'completed') {
      status.textContent = `${data.status} · ${data.id}`;
      ({ status: code, data } = await api(`/v1/executions/${encodeURIComponent(data.id)}?wait=true&timeout=60s`,
        { signal: controller.signal }));
    }
    renderExecution(data, req, performance.now() - started);
  } catch (e) {
    if (e && e.name === 'AbortError') {
      $('result').replaceChildren(el('p', { class: 'placeholder' },
        'Stopped waiting. The execution carries on in the engine; run again to start a new one.'));
    } else {
      $('result').replaceChildren(errorBox(e, 'The execution could not be run'));
    }
  } finally {
    clearInterval(tick);
    running = null;
    $('run').disabled = !runtimesLoaded || runtimes.length === 0;
    $('stop').hidden = true;
  }
}

function renderExecution(exec, req, elapsedMs) {
  const parts = [];
  parts.push(el('div', { class: 'result-head' },
    el('span', { id: 'verdict' }, verdictBadge(exec.verdict, true)),
    el('span', { class: 'meta' },
      [`${exec.language} ${exec.version}`, `${(elapsedMs / 1000).toFixed(2)} s round trip`,
        exec.executor ? `executor ${exec.executor}` : '', exec.attempt > 1 ? `attempt ${exec.attempt}` : '',
        `id ${exec.id}`].filter(Boolean).join(' · '))));
  if (exec.message) parts.push(el('div', { class: 'notice', id: 'message' }, exec.message));

  const tests = exec.tests || [];
  if (tests.length) {
    const passed = tests.filter((t) => t.verdict === 'accepted').length;
    parts.push(el('div', { class: 'summary-chips', 'aria-label': `${passed} of ${tests.length} tests accepted` },
      el('span', { class: 'meta' }, `${passed}/${tests.length} accepted`),
      tests.map((t, i) => el('a', {
        class: `chip verdict v-${t.verdict}`, href: `#test-result-${i}`,
        title: `Test ${i + 1}${t.name ? ' · ' + t.name : ''}: ${verdictLabel(t.verdict)}`,
        onclick: (e) => { e.preventDefault(); $(`test-result-${i}`).scrollIntoView({ block: 'nearest' }); $(`test-result-${i}`).focus(); },
      }, String(i + 1)))));
  }
  if (exec.compile) parts.push(stageCard('compile', 'Compile', exec.compile, {}));
  if (exec.run) parts.push(stageCard('run', 'Run', exec.run, { expected: req.expected_output }));
  tests.forEach((t, i) => {
    const tc = (req.tests || [])[i] || {};
    parts.push(stageCard(`test-${i}`, `Test ${i + 1}${t.name ? ' · ' + t.name : ''}`, t,
      { expected: tc.expected_output, stdin: tc.stdin, id: `test-result-${i}`, failed: exec.failed_test === i }));
  });
  if (!exec.compile && !exec.run && !tests.length && exec.status === 'completed' && exec.verdict !== 'internal_error') {
    parts.push(el('p', { class: 'placeholder' }, 'No stage output.'));
  }
  parts.push(el('details', { class: 'raw' },
    el('summary', {}, 'Request and response JSON'),
    el('pre', {}, 'POST /v1/execute\n' + JSON.stringify(req, null, 2)),
    el('pre', {}, JSON.stringify(exec, null, 2))));
  $('result').replaceChildren(...parts);
}

function stageCard(key, title, stage, extra) {
  const v = stage.verdict || 'pending';
  const metric = (label, value, cls) => el('div', { class: cls || null },
    el('dt', {}, label), el('dd', { 'data-metric': cls || label }, value));
  const body = [];
  if (stage.skipped) {
    body.push(el('p', { class: 'placeholder' }, 'Not run: an earlier test failed and the request stops on the first failure.'));
  } else {
    body.push(el('dl', { class: 'metrics' },
      metric('exit code', String(stage.exit_code), 'exit-code'),
      metric('signal', stage.signal || '–', 'signal'),
      metric('CPU', fmtMs(stage.cpu_time_ms), 'cpu'),
      metric('wall', fmtMs(stage.wall_time_ms), 'wall'),
      metric('memory', fmtKB(stage.memory_kb), 'memory'),
      stage.truncated ? metric('output', 'truncated', 'truncated') : null));
    // Side by side on a wide card: stdout | expected, stdin | stderr.
    body.push(el('div', { class: 'streams' },
      stream('stdout', stage.stdout, 'stdout'),
      extra.expected !== undefined ? stream('expected output', extra.expected, 'expected') : null,
      extra.stdin !== undefined ? stream('stdin', extra.stdin, 'stdin') : null,
      stream('stderr', stage.stderr, 'stderr')));
  }
  return el('article', {
    class: `stage v-${v}`, 'data-stage': key, 'data-verdict': v, id: extra.id || `stage-${key}`, tabindex: '-1',
    'aria-label': `${title}: ${verdictLabel(v)}`,
  },
  el('div', { class: 'stage-head' }, el('h3', {}, title), verdictBadge(v),
    extra.failed ? el('span', { class: 'meta' }, 'first failing test') : null),
  el('div', { class: 'stage-body' }, body));
}

function stream(label, text, cls) {
  text = text || '';
  return el('div', { class: `stream ${cls}` },
    el('div', { class: 'stream-label' }, label, text ? el('span', {}, `${text.length} char${text.length === 1 ? '' : 's'}`) : null),
    el('pre', { class: text ? null : 'empty', 'data-stream': cls }, text || '(empty)'));
}

// ---- share links ------------------------------------------------------------

function snapshot() {
  const rt = runtimes[state.runtime];
  const s = { v: 1 };
  if (rt) {
    s.language = rt.language;
    s.version = rt.version;
  } else if (wanted) {
    s.language = wanted.language;
    s.version = wanted.version;
  }
  s.files = state.files.map((f) => ({ name: f.name, content: f.content }));
  if ($('stdin').value) s.stdin = $('stdin').value;
  if ($('args').value) s.args = $('args').value;
  if ($('expected').value) s.expected = $('expected').value;
  const limits = {};
  for (const f of LIMIT_FIELDS) if ($(f.id).value.trim()) limits[f.key] = Number($(f.id).value);
  if (Object.keys(limits).length) s.limits = limits;
  if (state.tests.length) s.tests = state.tests.map((t) => ({ ...t }));
  if ($('compare').value !== 'trim') s.compare = $('compare').value;
  if ($('abs-tol').value.trim()) s.abs = $('abs-tol').value.trim();
  if ($('rel-tol').value.trim()) s.rel = $('rel-tol').value.trim();
  if ($('stop-first').checked) s.stop = true;
  return s;
}

function restore(s) {
  const str = (v) => (typeof v === 'string' ? v : '');
  if (Array.isArray(s.files) && s.files.length) {
    state.files = s.files.map((f) => ({ name: str(f && f.name) || 'main', content: str(f && f.content) }));
  }
  state.active = 0;
  renaming = -1;
  $('stdin').value = str(s.stdin);
  $('args').value = str(s.args);
  $('expected').value = str(s.expected);
  for (const f of LIMIT_FIELDS) {
    const v = s.limits ? s.limits[f.key] : undefined;
    $(f.id).value = typeof v === 'number' && v > 0 ? String(v) : '';
  }
  state.tests = Array.isArray(s.tests) ? s.tests.map((t) => ({
    name: str(t && t.name), stdin: str(t && t.stdin), expected: str(t && t.expected), args: str(t && t.args),
  })) : [];
  $('compare').value = ['exact', 'trim', 'tokens', 'float'].includes(s.compare) ? s.compare : 'trim';
  $('abs-tol').value = str(s.abs);
  $('rel-tol').value = str(s.rel);
  $('stop-first').checked = !!s.stop;
  updateTolerances();
  renderTests();
  if (state.tests.length) selectPanel('tests');
  const language = str(s.language);
  if (language) {
    if (runtimesLoaded && runtimes.length) {
      wanted = { language, version: str(s.version) };
      let i = findRuntime(wanted.language, wanted.version);
      if (i < 0) {
        notice(el('div', {}, `The link asks for ${language} ${str(s.version)}, which this gateway does not serve.`));
        i = Math.max(findRuntime(language, ''), 0);
      }
      wanted = null;
      selectRuntime(i, false);
      return;
    }
    wanted = { language, version: str(s.version) };
  }
  renderFiles();
  loadEditor();
}

function restoreFromHash() {
  const m = /^#s=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!m) return false;
  try {
    const s = JSON.parse(fromBase64url(m[1]));
    if (!s || typeof s !== 'object') throw new Error('not an object');
    restore(s);
    return true;
  } catch (e) {
    notice(el('div', { role: 'alert' }, 'The link’s editor state could not be read (' + e.message + ').'));
    return false;
  }
}

async function share() {
  if (renaming >= 0) commitRename(false);
  const hash = '#s=' + toBase64url(JSON.stringify(snapshot()));
  history.replaceState(null, '', hash);
  const url = location.origin + location.pathname + hash;
  $('share-url').value = url;
  $('share-box').hidden = false;
  await copyShare();
}

async function copyShare() {
  const input = $('share-url');
  let copied = false;
  try {
    await navigator.clipboard.writeText(input.value);
    copied = true;
  } catch {
    input.focus();
    input.select();
  }
  $('share-status').textContent = copied
    ? 'Copied. The link holds the whole editor state (not the API key).'
    : 'Select and copy the link. It holds the whole editor state (not the API key).';
}

// ---- start ------------------------------------------------------------------

function init() {
  setupKeyField(() => loadRuntimes());
  tablist($('file-tabs'));
  tablist($('panel-tabs'));

  $('language').addEventListener('change', (e) => selectRuntime(Number(e.target.value), true));
  $('run').addEventListener('click', run);
  $('stop').addEventListener('click', () => { if (running) running.abort(); });
  $('share').addEventListener('click', share);
  $('share-copy').addEventListener('click', copyShare);
  $('file-add').addEventListener('click', addFile);
  $('file-rename').addEventListener('click', () => startRename(state.active));
  $('file-remove').addEventListener('click', removeFile);
  $('test-add').addEventListener('click', addTest);
  $('compare').addEventListener('change', updateTolerances);
  for (const p of ['input', 'tests', 'limits']) $('tab-' + p).addEventListener('click', () => selectPanel(p));

  const editor = $('editor');
  editor.addEventListener('input', () => {
    state.files[state.active].content = editor.value;
    updateGutter();
  });
  editor.addEventListener('scroll', () => { $('gutter').scrollTop = editor.scrollTop; });
  editor.addEventListener('keydown', editorKeydown);

  // Ctrl+Enter / Cmd+Enter runs from anywhere on the page.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  }, true);
  window.addEventListener('hashchange', restoreFromHash);

  restoreFromHash();
  renderFiles();
  loadEditor();
  renderTests();
  loadRuntimes();
}

init();

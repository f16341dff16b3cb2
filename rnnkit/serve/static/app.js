// The rnnkit serve web page: plain script, no dependencies, no build step.
//
// Every call goes to this server's HTTP API (the same JSON as /docs describes), with the token
// the user typed as `Authorization: Bearer`. Text from models and requests is only ever set as
// text (textContent, text nodes), never parsed as HTML.
'use strict';

const TOKEN_KEY = 'rnnkit-serve-token';
const SVG = 'http://www.w3.org/2000/svg';
const state = { token: '', models: [] };
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// ---- talking to the API ------------------------------------------------------------------------
class ApiError extends Error {
  // `detail` is the answer's detail: one line, or FastAPI's list of field errors.
  constructor(status, detail) {
    super(Array.isArray(detail) ? detail.map((e) => e.msg).join('; ') : String(detail));
    this.status = status;
    this.detail = detail;
  }
}

class FieldProblem extends Error {
  // A value the page refuses before sending it, such as a history that is not numbers.
  constructor(element, message) {
    super(message);
    this.element = element;
  }
}

async function call(path, body, signal) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const init = { method: 'GET', headers, signal };
  if (body !== undefined) {
    init.method = 'POST';
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    // Relative to the page, so that it also works behind a proxy that adds a path prefix.
    response = await fetch(path.replace(/^\//, ''), init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'Cannot reach the server: is rnnkit serve still running?');
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // Not JSON (a proxy's error page, say): the status line says enough.
    }
    throw new ApiError(response.status, detail);
  }
  return response;
}

// Server-Sent Events from a fetch response: `data: <json>` blocks separated by a blank line.
async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

// ---- forms and errors --------------------------------------------------------------------------
// The request body of a form: checkboxes as booleans, numbers as numbers, empty fields left out
// (the server's defaults apply) except text areas, which are sent as typed.
function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') {
      body[el.name] = el.checked;
    } else if (el.type === 'number') {
      if (el.validity.badInput) throw new FieldProblem(el, 'not a number');
      if (el.value !== '') body[el.name] = Number(el.value);
    } else if (el.value !== '' || el.tagName === 'TEXTAREA') {
      body[el.name] = el.value;
    }
  }
  return body;
}

function labelOf(element) {
  const label = element && element.id && $(`label[for="${element.id}"]`);
  return label ? label.textContent : null;
}

// "Temperature: Input should be ..." for a field error located at ["body", "temperature"].
function fieldMessage(form, error) {
  const [, name, ...rest] = error.loc;
  const element = name === undefined ? null : form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (element) element.setAttribute('aria-invalid', 'true');
  const where = labelOf(element) ?? (error.loc.filter((p) => p !== 'body').join('.') || 'Request');
  const detail = rest.filter((p) => typeof p === 'number').map((i) => ` (item ${i + 1})`);
  return `${where}${detail.join('')}: ${error.msg}`;
}

function showError(panel, error) {
  const box = $('.error', panel);
  const form = $('form', panel);
  $$('[aria-invalid]', form).forEach((el) => el.removeAttribute('aria-invalid'));
  if (!error) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  let text;
  if (error instanceof FieldProblem) {
    error.element.setAttribute('aria-invalid', 'true');
    text = `${labelOf(error.element)}: ${error.message}`;
  } else if (error instanceof ApiError && error.status === 401) {
    text = 'This server needs a token: type it at the top of the page and press Connect.';
    $('#token').focus();
  } else if (error instanceof ApiError && Array.isArray(error.detail)) {
    text = error.detail.map((e) => fieldMessage(form, e)).join('\n');
  } else {
    text = error.message; // a 503 says itself when to retry
  }
  box.textContent = text;
  box.hidden = false;
}

// Run a panel's task on submit: one at a time, errors shown in the panel.
function onSubmit(name, task) {
  const panel = $(`#panel-${name}`);
  const form = $('form', panel);
  const submit = $('button[type="submit"]', form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    showError(panel, null);
    submit.disabled = true;
    panel.setAttribute('aria-busy', 'true');
    try {
      await task(form, panel);
    } catch (error) {
      showError(panel, error);
    } finally {
      submit.disabled = false;
      panel.removeAttribute('aria-busy');
    }
  });
  // Ctrl+Enter (or Cmd+Enter) in a text area submits, as in most chat and search boxes.
  $$('textarea', form).forEach((area) =>
    area.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    }),
  );
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const fixed = (x, digits = 2) => (x === null || x === undefined ? '–' : x.toFixed(digits));

// ---- /generate ---------------------------------------------------------------------------------
let stopGenerating = null;

async function generate(form, panel) {
  const body = formBody(form);
  const output = $('#generate-output');
  const generated = $('.generated', output);
  const meta = $('.meta', panel);
  $('.prompt', output).textContent = body.prompt ?? '';
  generated.textContent = '';
  meta.textContent = 'Generating…';
  $('.result', panel).hidden = false;
  const controller = new AbortController();
  const stop = $('#generate-stop');
  stopGenerating = () => controller.abort();
  stop.disabled = false;
  output.classList.toggle('streaming', body.stream);
  try {
    const response = await call('/generate', body, controller.signal);
    if (!body.stream) {
      const answer = await response.json();
      generated.textContent = answer.text;
      meta.textContent = summary(answer);
      return;
    }
    for await (const event of sseEvents(response)) {
      if ('text' in event) {
        generated.append(event.text);
        output.scrollTop = output.scrollHeight;
      } else if (event.done) {
        if (event.error) throw new ApiError(200, event.error);
        meta.textContent = summary(event);
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') {
      meta.textContent = '';
      throw error;
    }
    meta.textContent = `Stopped after ${generated.textContent.length} characters.`;
  } finally {
    stop.disabled = true;
    stopGenerating = null;
    output.classList.remove('streaming');
  }
}

function summary(answer) {
  const parts = [
    `${answer.tokens} tokens in ${fixed(answer.seconds)} s`,
    `model ${answer.model}`,
    `seed ${answer.seed}`,
  ];
  for (const warning of answer.warnings ?? []) parts.push(`warning: ${warning}`);
  return parts.join(' · ');
}

// ---- /score ------------------------------------------------------------------------------------
async function score(form, panel) {
  const answer = await (await call('/score', formBody(form))).json();
  const rows = $('tbody', panel);
  rows.replaceChildren(
    ...answer.lines.map((line) => {
      const row = el('tr');
      row.append(el('td', 'line', line.text), el('td', 'num', String(line.tokens)));
      row.append(el('td', 'num', fixed(line.logprob)), el('td', 'num', fixed(line.perplexity)));
      return row;
    }),
  );
  $('.meta', panel).textContent =
    `All lines: ${answer.tokens} tokens, log-prob ${fixed(answer.logprob)}, ` +
    `perplexity ${fixed(answer.perplexity)} (model ${answer.model}).`;
  $('.result', panel).hidden = false;
}

// ---- /poem -------------------------------------------------------------------------------------
async function poem(form, panel) {
  const answer = await (await call('/poem', formBody(form))).json();
  const poems = $('.poems', panel);
  poems.replaceChildren(
    ...answer.poems.map((text) => {
      const card = el('article', 'poem');
      // One poem is one line of text: break it after each sentence mark to read it as verse.
      for (const line of text.split(/(?<=[。！？；!?])/)) card.append(el('p', null, line));
      return card;
    }),
  );
  $('.meta', panel).textContent = `Seed ${answer.seed}: send it again to write the same poems.`;
  $('.result', panel).hidden = false;
}

// ---- /translate --------------------------------------------------------------------------------
async function translate(form, panel) {
  const body = formBody(form);
  const answer = await (await call('/translate', body)).json();
  const sources = body.text.split('\n');
  const list = $('.translations', panel);
  list.replaceChildren(
    ...answer.translations.map((translation, i) => {
      const item = el('li');
      if (sources.length === answer.translations.length) item.append(el('p', 'source', sources[i]));
      if (Array.isArray(translation)) {
        const options = el('ol', 'n-best');
        options.append(...translation.map((t) => el('li', 'target', t)));
        item.append(options);
      } else {
        item.append(el('p', 'target', translation));
      }
      return item;
    }),
  );
  // Lines the model mostly cannot read: their translations are not to be trusted.
  const warnings = $('.warnings', panel);
  warnings.textContent = (answer.warnings ?? []).map((w) => `warning: ${w}`).join(' · ');
  warnings.hidden = !warnings.textContent;
  const figure = $('.attention', panel);
  $('.result', panel).hidden = false; // first: the drawing fits the width it is shown at
  figure.hidden = !answer.attention;
  if (answer.attention) drawAttention($('canvas', figure), answer.attention);
}

// A heat map: one row per target token, one column per source token, darker = more weight.
function drawAttention(canvas, { source, target, weights }) {
  const style = getComputedStyle(document.body);
  const ink = style.color;
  const accent = style.getPropertyValue('--accent-rgb').trim() || '37, 99, 235';
  const ratio = window.devicePixelRatio || 1;
  const ctx = canvas.getContext('2d');
  ctx.font = '13px system-ui, sans-serif';
  const widest = (words) => Math.max(...words.map((w) => ctx.measureText(w).width), 10);
  const available = Math.max(canvas.parentElement.clientWidth, 240);
  const left = widest(target) + 12;
  const top = widest(source) * 0.72 + 16; // source labels are turned 45 degrees
  const right = widest(source) * 0.72 + 8; // the last turned label reaches past the grid
  const cell = Math.max(14, Math.min(36, Math.floor((available - left - right) / source.length)));
  const width = left + cell * source.length + right;
  const height = top + cell * target.length + 4;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  ctx.scale(ratio, ratio);
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillStyle = ink;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  target.forEach((word, row) => ctx.fillText(word, left - 8, top + (row + 0.5) * cell));
  ctx.textAlign = 'left';
  source.forEach((word, col) => {
    ctx.save();
    ctx.translate(left + (col + 0.5) * cell, top - 6);
    ctx.rotate(-Math.PI / 4);
    ctx.fillText(word, 0, 0);
    ctx.restore();
  });
  weights.forEach((row, r) =>
    row.forEach((w, c) => {
      ctx.fillStyle = `rgba(${accent}, ${Math.max(0.04, w)})`;
      ctx.fillRect(left + c * cell + 1, top + r * cell + 1, cell - 2, cell - 2);
    }),
  );
  const strongest = target.map((word, r) => {
    const c = weights[r].indexOf(Math.max(...weights[r]));
    return `${word} ← ${source[c]}`;
  });
  canvas.setAttribute(
    'aria-label',
    `Attention of ${target.length} target tokens over ${source.length} source tokens; ` +
      `strongest: ${strongest.join(', ')}`,
  );
}

// ---- /classify ---------------------------------------------------------------------------------
async function classify(form, panel) {
  const answer = await (await call('/classify', formBody(form))).json();
  const list = $('.sentences', panel);
  list.replaceChildren(...answer.sentences.filter((s) => s.tokens.length).map(sentenceCard));
  $('.result', panel).hidden = false;
}

function sentenceCard(sentence) {
  const card = el('article', 'sentence');
  const tokens = el('p', 'tokens');
  const starts = new Map((sentence.entities ?? []).map((e) => [e.start, e]));
  for (let i = 0; i < sentence.tokens.length; ) {
    const entity = starts.get(i);
    if (entity) {
      const mark = el('mark', 'entity');
      mark.style.setProperty('--hue', hue(entity.type));
      mark.append(el('span', null, sentence.tokens.slice(entity.start, entity.end).join(' ')));
      mark.append(el('small', null, entity.type));
      tokens.append(mark, ' ');
      i = entity.end;
    } else {
      const token = el('span', 'token', sentence.tokens[i]);
      if (sentence.tags) token.title = sentence.tags[i];
      tokens.append(token, ' ');
      i += 1;
    }
  }
  card.append(tokens);
  if (sentence.label !== null) {
    const labels = el('ul', 'labels');
    for (const { label, probability } of sentence.top) {
      const item = el('li');
      const bar = el('span', 'bar');
      const fill = el('span', 'fill');
      fill.style.width = `${(probability * 100).toFixed(1)}%`;
      bar.append(fill);
      const name = el('span', 'label', label);
      name.title = label; // the whole name, where a narrow screen cuts it short
      item.append(name, bar, el('span', 'num', `${fixed(probability * 100, 1)}%`));
      labels.append(item);
    }
    card.append(labels);
  }
  return card;
}

// A stable colour per entity type.
function hue(type) {
  let h = 0;
  for (const ch of type) h = (h * 31 + ch.codePointAt(0)) % 360;
  return String(h);
}

// ---- /forecast ---------------------------------------------------------------------------------
async function forecast(form, panel) {
  const body = formBody(form);
  const area = $('#forecast-history');
  const words = body.history.split(/[\s,;]+/).filter(Boolean);
  delete body.history;
  if (words.length) {
    const bad = words.find((w) => !Number.isFinite(Number(w)));
    if (bad !== undefined) throw new FieldProblem(area, `${JSON.stringify(bad)} is not a number`);
    body.history = words.map(Number);
  }
  const answer = await (await call('/forecast', body)).json();
  $('.result', panel).hidden = false; // first: the plot is drawn for the width it is shown at
  plotForecast($('.plot', panel), answer);
  $('tbody', panel).replaceChildren(
    ...answer.forecast.map((value, i) => {
      const row = el('tr');
      const time = answer.times ? answer.times[i] || '–' : '–';
      row.append(el('td', 'num', `+${i + 1}`), el('td', null, time), el('td', 'num', fixed(value, 3)));
      return row;
    }),
  );
}

// History and forecast as one line plot (inline SVG): the forecast dashed, after a "now" rule.
function plotForecast(figure, answer) {
  const { history, forecast: future, target, times } = answer;
  // Drawn in CSS pixels at the shown width, so that labels stay readable on a phone.
  const W = Math.max(300, Math.round(figure.clientWidth) || 720);
  const H = W < 520 ? 220 : 280;
  const pad = { left: 56, right: 16, top: 24, bottom: 34 };
  const all = [...history, ...future];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
  const ticks = niceTicks(lo, hi, 5);
  lo = Math.min(lo, ticks[0]);
  hi = Math.max(hi, ticks[ticks.length - 1]);
  const n = all.length;
  const x = (i) => pad.left + (i / Math.max(n - 1, 1)) * (W - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - lo) / (hi - lo)) * (H - pad.top - pad.bottom);
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  plot.append(svg('title', {}, `${target}: the last ${history.length} values and a forecast of ${future.length}`));
  for (const t of ticks) {
    plot.append(svg('line', { class: 'grid', x1: pad.left, x2: W - pad.right, y1: y(t), y2: y(t) }));
    plot.append(svg('text', { class: 'axis', x: pad.left - 8, y: y(t) + 4, 'text-anchor': 'end' }, tickLabel(t)));
  }
  const now = x(history.length - 1);
  plot.append(svg('line', { class: 'now', x1: now, x2: now, y1: pad.top - 8, y2: H - pad.bottom }));
  plot.append(svg('text', { class: 'axis', x: now + 6, y: pad.top - 12 }, 'now'));
  const points = (values, offset) => values.map((v, i) => `${x(i + offset)},${y(v)}`).join(' ');
  plot.append(svg('polyline', { class: 'line-history', points: points(history, 0) }));
  const joined = [history[history.length - 1], ...future];
  plot.append(svg('polyline', { class: 'line-forecast', points: points(joined, history.length - 1) }));
  future.forEach((v, i) => plot.append(svg('circle', { class: 'dot-forecast', cx: x(history.length + i), cy: y(v), r: 3 })));
  const first = times && times[0] ? times[0] : '+1';
  const last = times && times[future.length - 1] ? times[future.length - 1] : `+${future.length}`;
  const base = H - pad.bottom + 20;
  plot.append(svg('text', { class: 'axis', x: pad.left, y: base }, `t−${history.length - 1}`));
  // The first forecast time, where it leaves room for the last (about 7 px a character).
  if (W - pad.right - x(history.length) > (first.length / 2 + last.length) * 7 + 12) {
    plot.append(svg('text', { class: 'axis', x: x(history.length), y: base, 'text-anchor': 'middle' }, first));
  }
  plot.append(svg('text', { class: 'axis', x: W - pad.right, y: base, 'text-anchor': 'end' }, last));
  // The legend is HTML under the plot: it wraps at any width instead of running into the lines.
  const legend = el('figcaption', 'legend');
  legend.append(el('span', 'swatch history'), `${target}: the last ${history.length} values`);
  legend.append(el('span', 'swatch forecast'), `forecast, ${future.length} steps (${answer.model})`);
  figure.replaceChildren(plot, legend);
  figure.setAttribute('aria-label', `${answer.model}: forecast of ${target}, ${future.length} steps`);
}

// About `count` round numbers spanning [lo, hi].
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
  if (ticks[ticks.length - 1] < hi) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function tickLabel(t) {
  const a = Math.abs(t);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return t.toExponential(1);
  return String(Number(t.toPrecision(6)));
}

// ---- models, tabs and the token ----------------------------------------------------------------
function setStatus(text, problem = false) {
  const status = $('#server-status');
  status.textContent = text;
  status.classList.toggle('problem', problem);
}

async function loadModels() {
  setStatus('Connecting…');
  try {
    state.models = await (await call('/models')).json();
  } catch (error) {
    state.models = [];
    if (error instanceof ApiError && error.status === 401) {
      setStatus(state.token ? 'Wrong token' : 'Token needed', true);
      showTabs('This server needs a token: type it at the top of the page and press Connect.');
      $('#token').focus();
    } else {
      setStatus('No answer', true);
      showTabs(error.message);
    }
    return;
  }
  const names = state.models.map((m) => `${m.name} (${m.task})`).join(', ');
  const count = state.models.length;
  setStatus(`${count} model${count === 1 ? '' : 's'} served: ${names}`);
  fillModelSelects();
  showTabs();
}

function fillModelSelects() {
  for (const tab of $$('[role="tab"]')) {
    const select = $(`#${tab.dataset.tab}-model`);
    const previous = select.value;
    const fitting = state.models.filter((m) => m.endpoints.includes(tab.dataset.endpoint));
    select.replaceChildren(
      ...fitting.map((m) => {
        const what = m.kind === m.task ? m.kind : `${m.kind}, ${m.task}`;
        const option = el('option', null, `${m.name} (${what})`);
        option.value = m.name;
        return option;
      }),
    );
    if (fitting.some((m) => m.name === previous)) select.value = previous;
  }
}

function servedTabs() {
  const served = new Set(state.models.flatMap((m) => m.endpoints));
  return $$('[role="tab"]').filter((tab) => served.has(tab.dataset.endpoint));
}

// Show the tabs of the served endpoints; without any, `problem` (or a note) takes their place.
function showTabs(problem = null) {
  const visible = servedTabs();
  for (const tab of $$('[role="tab"]')) tab.hidden = !visible.includes(tab);
  const notice = $('#no-models');
  notice.hidden = visible.length > 0;
  notice.textContent = problem ?? 'None of the served models answers an endpoint this page knows.';
  const wanted = visible.find((tab) => `#${tab.dataset.tab}` === location.hash);
  const current = visible.find((tab) => tab.getAttribute('aria-selected') === 'true');
  selectTab(wanted ?? current ?? visible[0] ?? null, false);
}

function selectTab(chosen, focus = true) {
  for (const tab of $$('[role="tab"]')) {
    const selected = tab === chosen;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute('aria-controls')}`).hidden = !selected;
  }
  if (!chosen) return;
  if (focus) chosen.focus();
  history.replaceState(null, '', `#${chosen.dataset.tab}`);
}

function setUpTabs() {
  const tabs = $('#tabs');
  tabs.addEventListener('click', (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (tab) selectTab(tab);
  });
  // Arrow keys move between the tabs, as the ARIA tabs pattern expects.
  tabs.addEventListener('keydown', (event) => {
    const visible = servedTabs();
    const at = visible.indexOf(document.activeElement);
    if (at < 0) return;
    const next = {
      ArrowRight: visible[(at + 1) % visible.length],
      ArrowLeft: visible[(at - 1 + visible.length) % visible.length],
      Home: visible[0],
      End: visible[visible.length - 1],
    }[event.key];
    if (next) {
      event.preventDefault();
      selectTab(next);
    }
  });
}

function setUpToken() {
  const input = $('#token');
  try {
    state.token = localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    state.token = ''; // storage is off (a private window, say): the token lives in memory only
  }
  input.value = state.token;
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = input.value.trim();
    try {
      if (state.token) localStorage.setItem(TOKEN_KEY, state.token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      // Kept in memory for this page only.
    }
    loadModels();
  });
}

function start() {
  setUpToken();
  setUpTabs();
  $('#generate-stop').addEventListener('click', () => stopGenerating && stopGenerating());
  onSubmit('generate', generate);
  onSubmit('score', score);
  onSubmit('poem', poem);
  onSubmit('translate', translate);
  onSubmit('classify', classify);
  onSubmit('forecast', forecast);
  loadModels();
}

start();

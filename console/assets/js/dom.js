// dom.js: building elements, and formatting what the API returns.

const SVG_NS = 'http://www.w3.org/2000/svg';

// build creates an element in namespace ns. attrs: "class", "text", on*
// handlers (functions), "dataset" (an object), booleans (present when true)
// and other attributes; children: nodes, strings, arrays, null.
function build(ns, tag, attrs, children) {
  const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && !ns) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// h creates an HTML element: h('a', {href: '#/'}, 'Overview').
export const h = (tag, attrs, ...children) => build(null, tag, attrs, children);

// svg creates an SVG element.
export const svg = (tag, attrs, ...children) => build(SVG_NS, tag, attrs, children);

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// What an element was last drawn from, by update and rows.
const drawnFrom = new WeakMap();

// update draws build()'s children into el, as replace does, unless sig
// (any value JSON encodes) is what el was last drawn from: a refresh that
// changes nothing keeps the elements, so that a click, a focus or a hover
// on one of them is not lost with it.
export function update(el, sig, build) {
  const s = JSON.stringify(sig) ?? '';
  if (drawnFrom.get(el) === s) return el;
  drawnFrom.set(el, s);
  return replace(el, build());
}

// rows draws items into parent, one child per item, keyed by key(item): a
// child whose sig(item) is what it was drawn from stays as it is, a
// changed one is replaced where it stands, and the children are reordered
// only when the keys or their order change. empty() is drawn for no items.
export function rows(parent, items, {key, sig, build, empty}) {
  if (!items.length) return update(parent, {empty: true}, empty);
  drawnFrom.delete(parent);
  const old = new Map();
  for (const c of parent.children) {
    const d = drawnFrom.get(c);
    if (d?.key !== undefined) old.set(d.key, c);
  }
  const next = items.map((it) => {
    const k = String(key(it)), s = JSON.stringify(sig(it)) ?? '';
    const c = old.get(k);
    old.delete(k);
    if (c && drawnFrom.get(c).sig === s) return c;
    const n = build(it);
    drawnFrom.set(n, {key: k, sig: s});
    return n;
  });
  const cur = [...parent.children];
  if (cur.length === next.length && cur.every((c, i) => drawnFrom.get(c)?.key === drawnFrom.get(next[i]).key)) {
    cur.forEach((c, i) => c !== next[i] && c.replaceWith(next[i]));
  } else {
    parent.replaceChildren(...next);
  }
  return parent;
}

// badge shows a status as a colored label.
export const badge = (status) => h('span', {class: `badge s-${status || 'unknown'}`, text: status || '?'});

// short shortens an id for tables; the full id is in the title. A UUID
// keeps its last n characters: run and session ids are UUIDv7, whose first
// characters are a timestamp that ids made within a minute share.
const uuidRE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const short = (id, n = 8) => {
  if (!id || id.length <= n + 1) return id || '';
  return uuidRE.test(id) ? '…' + id.slice(-n) : id.slice(0, n) + '…';
};

// enc escapes one path segment.
export const enc = encodeURIComponent;

export const fmt = {
  // duration formats seconds as "3.2s", "4m 05s", "2h 10m".
  duration(sec) {
    if (sec === undefined || sec === null || isNaN(sec)) return '';
    if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)}s`;
    const m = Math.floor(sec / 60), s = Math.floor(sec % 60);
    if (m < 60) return `${m}m ${String(s).padStart(2, '0')}s`;
    return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
  },
  // time formats an ISO time as local hh:mm:ss (with the date when not today).
  time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    const t = d.toLocaleTimeString([], {hour12: false});
    return d.toDateString() === new Date().toDateString() ? t : `${d.toLocaleDateString()} ${t}`;
  },
  // between is the time from a to b (now when b is empty), in seconds.
  between(a, b) {
    if (!a) return undefined;
    return ((b ? new Date(b) : new Date()) - new Date(a)) / 1000;
  },
  tokens(u) {
    if (!u) return '';
    const total = u.total_tokens ?? (u.input_tokens || 0) + (u.output_tokens || 0);
    return `${total} (${u.input_tokens || 0} in / ${u.output_tokens || 0} out)`;
  },
};

// addUsage adds token usage b to a (either may be missing).
export function addUsage(a, b) {
  if (!b) return a;
  a = a || {input_tokens: 0, output_tokens: 0, total_tokens: 0};
  const input = a.input_tokens + (b.input_tokens || 0);
  const output = a.output_tokens + (b.output_tokens || 0);
  const total = a.total_tokens + (b.total_tokens ?? (b.input_tokens || 0) + (b.output_tokens || 0));
  return {input_tokens: input, output_tokens: output, total_tokens: total};
}

// jsonView renders a JSON value for reading: objects as key/value tables,
// arrays as numbered lists, text as preformatted text.
export function jsonView(value, depth = 0) {
  if (value === null || value === undefined) return h('span', {class: 'j-null', text: 'null'});
  if (typeof value === 'string') return h('pre', {class: 'j-str', text: value});
  if (typeof value !== 'object') return h('span', {class: `j-${typeof value}`, text: String(value)});
  if (depth > 6) return h('pre', {class: 'j-str', text: JSON.stringify(value)});
  if (Array.isArray(value)) {
    if (!value.length) return h('span', {class: 'j-null', text: '[]'});
    return h('ol', {class: 'j-arr', start: 0}, value.map((v) => h('li', null, jsonView(v, depth + 1))));
  }
  const keys = Object.keys(value);
  if (!keys.length) return h('span', {class: 'j-null', text: '{}'});
  return h('table', {class: 'j-obj'},
    h('tbody', null, keys.map((k) => h('tr', null, h('th', {text: k}), h('td', null, jsonView(value[k], depth + 1))))));
}

// head is a table head; a column name starting with "#" is numeric (set
// right, as its cells).
export const head = (...cols) => h('thead', null, h('tr', null, cols.map((c) =>
  c.startsWith('#') ? h('th', {class: 'num', text: c.slice(1)}) : h('th', {text: c}))));

// form builds a form whose submit calls fn(values, form) with its named
// fields, shows fn's errors in the form and disables it meanwhile.
export function form(attrs, fn, ...children) {
  const err = h('p', {class: 'error', hidden: true});
  const f = h('form', attrs, ...children, err);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(f, e.submitter || undefined));
    err.hidden = true;
    f.classList.add('busy');
    for (const b of f.querySelectorAll('button')) b.disabled = true;
    try {
      await fn(values, f, e.submitter);
    } catch (x) {
      err.textContent = x.message;
      err.hidden = false;
    } finally {
      f.classList.remove('busy');
      for (const b of f.querySelectorAll('button')) b.disabled = false;
    }
  });
  return f;
}

// debounce calls fn at most once per ms, after the last call.
export function debounce(fn, ms) {
  let t;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

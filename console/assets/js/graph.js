// graph.js: the two drawings of the console, in SVG: a flow as a layered
// DAG (runs), and a mob's wiring as members on a circle (mob view).

import {svg} from './dom.js';

const NODE_W = 156;
const NODE_H = 46;
const GAP_MAJOR = 54; // between layers
const GAP_MINOR = 16; // between nodes of a layer
let drawings = 0; // makes marker ids unique on the page

const clip = (s, n) => (s && s.length > n ? s.slice(0, n - 1) + '…' : s || '');

// layout places the nodes of a DAG in layers: each node one layer past its
// deepest dependency, nodes of a layer ordered by the mean position of
// their dependencies (two sweeps). It returns each node's layer and rank.
export function layout(ids, edges) {
  const preds = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (preds.has(e.to) && preds.has(e.from)) preds.get(e.to).push(e.from);
  const layer = new Map(ids.map((id) => [id, 0]));
  for (let pass = 0, changed = true; changed && pass < ids.length; pass++) {
    changed = false;
    for (const id of ids) {
      for (const p of preds.get(id)) {
        if (layer.get(p) + 1 > layer.get(id)) {
          layer.set(id, layer.get(p) + 1);
          changed = true;
        }
      }
    }
  }
  const layers = [];
  for (const id of ids) (layers[layer.get(id)] ||= []).push(id);
  const rank = new Map();
  layers.forEach((l) => l.forEach((id, i) => rank.set(id, i)));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (const l of layers.slice(1)) {
      const score = (id) => {
        const ps = preds.get(id);
        return ps.length ? ps.reduce((s, p) => s + rank.get(p), 0) / ps.length : rank.get(id);
      };
      const scores = new Map(l.map((id) => [id, score(id)]));
      l.sort((a, b) => scores.get(a) - scores.get(b));
      l.forEach((id, i) => rank.set(id, i));
    }
  }
  return {layers, layer, rank};
}

// drawFlow draws a FlowGraph (GET …/flows/{flow} or …/runs/{run}/graph)
// left to right, or top to bottom when vertical. Node states are set with
// setStates({key: state}), key being a step's step_id or a loop's loop_id;
// onSelect(node) is called when a node is clicked or chosen with the
// keyboard. It returns {el, setStates, select}.
export function drawFlow(graph, {vertical = false, onSelect} = {}) {
  const nodes = graph.nodes;
  const ids = nodes.map((n) => n.id);
  const edges = [];
  for (const n of nodes) for (const d of n.depends_on || []) edges.push({from: d, to: n.id, mode: n.mode});
  // A loop leads into the roots of its body.
  for (const n of nodes) {
    if (n.parent && !(n.depends_on || []).length) edges.push({from: n.parent, to: n.id, loop: true});
  }
  const {layers, layer, rank} = layout(ids, edges);
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const major = (vertical ? NODE_H : NODE_W) + GAP_MAJOR;
  const minor = (vertical ? NODE_W : NODE_H) + GAP_MINOR;
  const pos = new Map();
  for (const id of ids) {
    const l = layers[layer.get(id)];
    const offset = ((widest - l.length) * minor) / 2;
    const a = layer.get(id) * major;
    const b = offset + rank.get(id) * minor;
    pos.set(id, vertical ? {x: b, y: a} : {x: a, y: b});
  }
  const pad = 8;
  const width = (vertical ? widest * minor - GAP_MINOR : layers.length * major - GAP_MAJOR) + 2 * pad;
  const height = (vertical ? layers.length * major - GAP_MAJOR : widest * minor - GAP_MINOR) + 2 * pad;
  const marker = `arrow-${++drawings}`;

  const root = svg('svg', {class: 'flow-graph', viewBox: `${-pad} ${-pad} ${width} ${height}`,
    role: 'img', 'aria-label': 'flow graph'});
  root.style.maxWidth = `${width * 1.15}px`;
  root.append(svg('defs', null, svg('marker', {id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'}, svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))));

  for (const e of edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    let d;
    if (vertical) {
      const [x1, y1, x2, y2] = [a.x + NODE_W / 2, a.y + NODE_H, b.x + NODE_W / 2, b.y];
      d = `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2 - 2}`;
    } else {
      const [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
      d = `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2 - 2},${y2}`;
    }
    root.append(svg('path', {d, class: `edge${e.loop ? ' loop' : ''}${e.mode === 'any' ? ' any' : ''}`,
      'marker-end': `url(#${marker})`, dataset: {from: e.from, to: e.to}}));
  }

  const groups = new Map();
  for (const n of nodes) {
    const p = pos.get(n.id);
    const key = n.kind === 'repeat_until' ? n.loop_id : n.step_id;
    const sub = n.kind === 'repeat_until' ? `loop ≤ ${n.max_iterations || '?'}×`
      : n.approval ? 'approval' : `${n.role}${n.dispatch_mode && n.dispatch_mode !== 'fan_out' ? ' · ' + n.dispatch_mode : ''}`;
    const g = svg('g', {class: `node s-pending${n.kind === 'repeat_until' ? ' loop' : ''}${n.approval ? ' approval' : ''}`,
      transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button',
      dataset: {node: n.id, key, step: n.step_id || '', state: 'pending'}},
    svg('title', {text: `${key}${n.message ? '\n' + n.message : ''}`}),
    svg('rect', {width: NODE_W, height: NODE_H, rx: 7}),
    svg('circle', {class: 'dot', cx: 14, cy: NODE_H / 2, r: 5}),
    svg('text', {x: 26, y: 19, class: 'label', text: clip(key, 17)}),
    svg('text', {x: 26, y: 36, class: 'sub', text: clip(sub, 22)}));
    const choose = () => onSelect?.(n);
    g.addEventListener('click', choose);
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        choose();
      }
    });
    groups.set(n.id, {g, key});
    root.append(g);
  }

  return {
    el: root,
    setStates(states) {
      for (const {g, key} of groups.values()) {
        const s = states[key] || 'pending';
        if (g.dataset.state === s) continue;
        g.dataset.state = s;
        g.setAttribute('class', g.getAttribute('class').replace(/\bs-[a-z_]+/, `s-${s}`));
      }
    },
    select(id) {
      for (const [nid, {g}] of groups) g.classList.toggle('selected', nid === id);
    },
  };
}

// drawWiring draws members on a circle with a line for every wiring
// (members' peers). onSelect(member) is called on a click.
export function drawWiring(members, {onSelect, selected} = {}) {
  const n = members.length;
  const size = n <= 1 ? 220 : Math.min(520, 220 + n * 34);
  const c = size / 2;
  const r = n <= 1 ? 0 : c - 52;
  const pos = new Map();
  members.forEach((m, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    pos.set(m.agent_identity, {x: c + r * Math.cos(a), y: c + r * Math.sin(a)});
  });
  const root = svg('svg', {class: 'wiring', viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': 'wiring graph'});
  root.style.maxWidth = `${size * 1.2}px`;
  const seen = new Set();
  for (const m of members) {
    for (const p of m.peers || []) {
      const k = [m.agent_identity, p].sort().join('\u0000');
      if (seen.has(k) || !pos.has(p)) continue;
      seen.add(k);
      const a = pos.get(m.agent_identity);
      const b = pos.get(p);
      root.append(svg('line', {class: 'edge', x1: a.x, y1: a.y, x2: b.x, y2: b.y, dataset: {a: m.agent_identity, b: p}}));
    }
  }
  for (const m of members) {
    const p = pos.get(m.agent_identity);
    const g = svg('g', {class: `member s-${m.status}${m.agent_identity === selected ? ' selected' : ''}`,
      transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button', dataset: {member: m.agent_identity}},
    svg('title', {text: `${m.agent_identity} (${m.profile}): ${m.status}`}),
    svg('circle', {r: 20}),
    svg('text', {y: 4, class: 'initial', text: (m.profile || '?').slice(0, 1).toUpperCase()}),
    svg('text', {y: 36, class: 'label', text: clip(m.agent_identity, 16)}));
    g.addEventListener('click', () => onSelect?.(m));
    g.addEventListener('keydown', (e) => e.key === 'Enter' && onSelect?.(m));
    root.append(g);
  }
  return root;
}

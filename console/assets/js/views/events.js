// Events: the journal's events, live, filtered by mob, member, run or
// session (by the daemon) and by type (here). The stream resumes after a
// reconnect from the last event id it saw (Last-Event-ID), so the log has
// no gap and no event twice.

import {follow} from '../api.js';
import {enc, fmt, form, h, head, replace, short} from '../dom.js';

const KEEP = 1000; // rows kept on the page, newest first

export function mount(el, _params, query) {
  const filters = {};
  for (const k of ['mob', 'member', 'run', 'session']) if (query.get(k)) filters[k] = query.get(k);
  let typeFilter = query.get('type') || '';
  let total = 0;
  let shown = 0;
  const status = h('p', {class: 'feed-status', id: 'feed-status', dataset: {state: 'connecting'}, text: 'connecting…'});
  const body = h('tbody', {id: 'event-rows'});

  const input = (name, placeholder) => h('label', null, name[0].toUpperCase() + name.slice(1) + ' ',
    h('input', {name, placeholder, value: name === 'type' ? typeFilter : filters[name] || ''}));
  const filterForm = form({id: 'event-filters', class: 'filters'}, async (v) => {
    const q = new URLSearchParams();
    for (const [k, val] of Object.entries(v)) if (val.trim()) q.set(k, val.trim());
    location.hash = `#/events${q.size ? '?' + q : ''}`;
  },
  input('mob', 'any'), input('member', 'any'), input('run', 'any'), input('session', 'any'),
  input('type', 'e.g. step_ or flow_'),
  h('button', {type: 'submit', text: 'Apply'}));
  filterForm.querySelector('input[name=type]').addEventListener('input', (e) => {
    typeFilter = e.target.value.trim();
    for (const tr of body.children) tr.hidden = !matches(tr.dataset.type);
  });

  replace(el,
    h('section', {class: 'panel'},
      h('div', {class: 'panel-head'}, h('h1', {text: 'Events'}), status),
      filterForm,
      h('div', {class: 'scroll'}, h('table', {class: 'list events'},
        head('##', 'Time', 'Type', 'Mob', 'Run', 'Step', 'Member', 'Detail'),
        body))));

  const matches = (type) => !typeFilter || typeFilter.split(/[ ,]+/).some((t) => type.includes(t));

  function row(ev) {
    const runLink = ev.run_id ? h('a', {href: `#/mobs/${enc(ev.mob_id)}/runs/${enc(ev.run_id)}`, title: ev.run_id, text: short(ev.run_id)}) : '';
    // A message goes one way, from a member or from outside the mob.
    const member = ev.type === 'mobd_member_message' ? `${ev.member || 'outside'} → ${ev.peer}` : [ev.member, ev.peer].filter(Boolean).join(' ↔ ');
    return h('tr', {dataset: {id: ev.cursor, type: ev.type}, class: /fail|cancel|violation|exceeded/.test(ev.type) ? 'warn' : null, hidden: !matches(ev.type)},
      h('td', {class: 'num', text: ev.cursor}),
      h('td', {class: 'small', text: fmt.time(ev.at)}),
      h('td', null, h('code', {text: ev.type})),
      h('td', null, h('a', {href: `#/mobs/${enc(ev.mob_id)}`, text: ev.mob_id})),
      h('td', null, runLink),
      h('td', {text: ev.step_id || ev.loop_id || ''}),
      h('td', {text: member}),
      h('td', {class: 'small detail', text: detail(ev)}));
  }

  function describe(state, info) {
    const text = {live: 'live', reconnecting: 'reconnecting', auth: 'token needed', refused: `refused: ${info?.message}`}[state] || state;
    status.dataset.state = state;
    status.textContent = `${text} · ${total} events${info?.last ? ` · last id ${info.last}` : ''}` +
      `${info?.reconnects ? ` · ${info.reconnects} reconnects` : ''}`;
  }

  let lastInfo = null;
  let lastState = 'connecting';
  const feed = follow(filters, (ev) => {
    total++;
    body.prepend(row(ev));
    if (++shown > KEEP) {
      body.lastElementChild.remove();
      shown--;
    }
    describe(lastState, {...lastInfo, last: ev.cursor});
  }, {onState: (state, info) => {
    lastState = state;
    lastInfo = info;
    describe(state, info);
  }});
  return () => feed.stop();
}

// detail is an event's one-line summary.
function detail(ev) {
  const clip = (s) => (s.length > 160 ? s.slice(0, 159) + '…' : s);
  if (ev.error) return clip(`${ev.class ? ev.class + ': ' : ''}${ev.error}`);
  if (ev.reason) return clip(ev.reason);
  if (ev.decision) return clip(`${ev.decision.approved ? 'approved' : 'rejected'}${ev.decision.by ? ' by ' + ev.decision.by : ''}${ev.decision.comment ? ': ' + ev.decision.comment : ''}`);
  if (ev.text) return clip(ev.text);
  if (ev.output !== undefined) return clip(typeof ev.output === 'string' ? ev.output : JSON.stringify(ev.output));
  if (ev.params) return clip('params ' + JSON.stringify(ev.params));
  if (ev.attempt) return `attempt ${ev.attempt}`;
  return '';
}

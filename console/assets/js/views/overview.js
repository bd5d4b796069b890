// Overview: the mobs (state, members, runs), the runs in flight, and the
// runtime pool's health (pid, uptime, restarts, sessions), polled every
// two seconds.

import {get, poll} from '../api.js';
import {badge, enc, fmt, h, head, replace, rows, short} from '../dom.js';

export function mount(el) {
  const mobsBody = h('tbody');
  const rtBody = h('tbody');
  const activeBody = h('tbody');
  const poolSummary = h('p', {class: 'muted', id: 'pool-summary'});
  const updated = h('span', {class: 'muted small'});
  replace(el,
    h('section', {class: 'panel', id: 'mobs'},
      h('div', {class: 'panel-head'}, h('h1', {text: 'Mobs'}), updated),
      h('div', {class: 'scroll'}, h('table', {class: 'list'},
        head('Mob', 'State', '#Members', '#Active runs', '#Runs', 'Flows'),
        mobsBody))),
    h('section', {class: 'panel', id: 'active-runs'},
      h('h2', {text: 'Runs in flight'}),
      h('div', {class: 'scroll'}, h('table', {class: 'list'},
        head('Run', 'Mob', 'Flow', 'Status', 'Started', '#Running for'),
        activeBody))),
    h('section', {class: 'panel', id: 'runtimes'},
      h('div', {class: 'panel-head'}, h('h2', {text: 'Runtime pool'})),
      poolSummary,
      h('div', {class: 'scroll'}, h('table', {class: 'list'},
        head('Runtime', 'State', '#PID', '#Uptime', '#Restarts', '#Generation', '#Sessions', 'Last error'),
        rtBody))));

  const p = poll(async (signal) => {
    const [mobs, runtimes] = await Promise.all([get('/v1/mobs', {signal}), get('/v1/runtimes', {signal})]);
    // Rows are redrawn only when they change: a poll must not take a link
    // from under the pointer.
    rows(mobsBody, mobs, {key: (m) => m.id, sig: (m) => m,
      empty: () => h('tr', null, h('td', {colspan: 6, class: 'muted', text: 'No mobs yet: create one with mobd apply -f mob.toml'})),
      build: (m) => h('tr', {dataset: {mob: m.id}},
      h('td', null, h('a', {href: `#/mobs/${enc(m.id)}`, text: m.id})),
      h('td', null, badge(m.state)),
      h('td', {class: 'num', text: m.members}),
      h('td', {class: 'num' + (m.active_runs ? ' hot' : ''), text: m.active_runs}),
      h('td', {class: 'num', text: m.runs}),
      h('td', {text: (m.flows || []).join(', ')}))});

    const active = (await Promise.all(mobs.filter((m) => m.active_runs > 0).map(async (m) =>
      (await get(`/v1/mobs/${enc(m.id)}/runs`, {signal})).filter((r) => !['completed', 'failed', 'canceled'].includes(r.status))
        .map((r) => ({...r, mob: m.id}))))).flat();
    rows(activeBody, active, {key: (r) => `${r.mob}\u0000${r.run_id}`, sig: (r) => r,
      empty: () => h('tr', null, h('td', {colspan: 6, class: 'muted', text: 'None: every run has ended.'})),
      build: (r) => h('tr', {dataset: {run: r.run_id, started: r.started_at || ''}},
      h('td', null, h('a', {href: `#/mobs/${enc(r.mob)}/runs/${enc(r.run_id)}`, title: r.run_id, text: short(r.run_id)})),
      h('td', {text: r.mob}),
      h('td', {text: r.flow_id}),
      h('td', null, badge(r.status)),
      h('td', {text: fmt.time(r.started_at)}),
      h('td', {class: 'num running-for'}))});
    for (const td of activeBody.querySelectorAll('td.running-for')) td.textContent = fmt.duration(fmt.between(td.parentElement.dataset.started));

    const restarts = runtimes.reduce((s, r) => s + r.restarts, 0);
    const sessions = runtimes.reduce((s, r) => s + r.sessions, 0);
    const running = runtimes.filter((r) => r.state === 'running').length;
    const count = (k, one, many) => `${k} ${k === 1 ? one : many}`;
    poolSummary.textContent = `${count(runtimes.length, 'runtime process', 'runtime processes')}, ${running} running; ` +
      `${count(sessions, 'session', 'sessions')} hosted; ${count(restarts, 'restart', 'restarts')} in all.`;
    replace(rtBody, runtimes.map((r) => h('tr', {dataset: {runtime: r.name, pid: r.pid, restarts: r.restarts}, class: r.state !== 'running' ? 'warn' : null},
      h('td', {text: r.name}),
      h('td', null, badge(r.state)),
      h('td', {class: 'num', text: r.pid || '—'}),
      h('td', {class: 'num', text: fmt.duration(r.uptime_seconds)}),
      h('td', {class: 'num restarts' + (r.restarts ? ' hot' : ''), text: r.restarts}),
      h('td', {class: 'num', text: r.generation}),
      h('td', {class: 'num', text: r.sessions}),
      h('td', {class: 'small', text: r.last_error || ''}))));
    updated.textContent = `updated ${new Date().toLocaleTimeString([], {hour12: false})}`;
  }, 2000);
  return () => p.stop();
}

// Mob view: members (status, role, session, turns, tokens), the wiring
// as a graph, the mob's runs and flows, and the actions: spawn, retire,
// respawn, wire, unwire, send a message, start a run, stop/resume/complete.
// It follows the mob's events: member and run changes refresh the view,
// and the turns of flow steps add up to each member's token usage.

import {api, follow, get, poll, post} from '../api.js';
import {addUsage, badge, debounce, enc, fmt, form, h, head, jsonView, replace, rows, short, update} from '../dom.js';
import {drawFlow, drawWiring} from '../graph.js';

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

export function mount(el, [mobId]) {
  const base = `/v1/mobs/${enc(mobId)}`;
  let mob = null;
  let runs = [];
  let flows = [];
  let selected = '';
  const usage = {}; // member → tokens of its flow turns

  const title = h('h1', {text: mobId});
  const state = h('span');
  const lifecycle = h('span', {class: 'actions'});
  const membersBody = h('tbody');
  const wiring = h('div', {class: 'graph-box', id: 'wiring'});
  const memberPanel = h('div', {id: 'member-detail'});
  const runsBody = h('tbody');
  const flowsBox = h('div', {id: 'flows'});
  const actions = h('div', {class: 'action-forms'});
  const defBox = h('details', null, h('summary', {text: 'Definition'}));

  replace(el,
    h('p', {class: 'crumbs'}, h('a', {href: '#/', text: 'Overview'}), ' / mob'),
    h('section', {class: 'panel'}, h('div', {class: 'panel-head'}, h('div', null, title, ' ', state), lifecycle)),
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', id: 'members'},
        h('h2', {text: 'Members'}),
        h('div', {class: 'scroll'}, h('table', {class: 'list'},
          head('Member', 'Role', 'Status', 'Session', '#Turns', '#Pending', '#Tokens', ''),
          membersBody)),
        memberPanel),
      h('section', {class: 'panel'}, h('h2', {text: 'Wiring'}), wiring)),
    h('section', {class: 'panel'}, h('h2', {text: 'Actions'}), actions),
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', id: 'runs'}, h('h2', {text: 'Runs'}),
        h('div', {class: 'scroll'}, h('table', {class: 'list'},
          head('Run', 'Flow', 'Status', 'Started', '#Took', 'Reason'),
          runsBody))),
      h('section', {class: 'panel'}, h('h2', {text: 'Flows'}), flowsBox)),
    h('section', {class: 'panel'}, defBox));

  function renderMembers() {
    const members = mob.member_list || [];
    // Rows, and the wiring, are redrawn only where they change: a refresh
    // (any event of the mob) must not take a button from under the pointer.
    rows(membersBody, members, {key: (m) => m.agent_identity, sig: (m) => [m, m.agent_identity === selected, usage[m.agent_identity]],
      empty: () => h('tr', null, h('td', {colspan: 8, class: 'muted', text: 'No members: spawn one below.'})),
      build: (m) => h('tr', {
        dataset: {member: m.agent_identity}, class: m.agent_identity === selected ? 'selected' : null,
      },
    h('td', null, h('button', {class: 'link', type: 'button', text: m.agent_identity, onclick: () => select(m.agent_identity)})),
    h('td', {text: m.profile}),
    h('td', null, badge(m.status)),
    h('td', null, m.session_id ? h('a', {href: sessionHref(m), title: m.session_id, text: short(m.session_id)}) : ''),
    h('td', {class: 'num', text: m.turns}),
    h('td', {class: 'num' + (m.pending ? ' hot' : ''), text: m.pending}),
    h('td', {class: 'num', title: fmt.tokens(usage[m.agent_identity]), text: usage[m.agent_identity]?.total_tokens ?? 0}),
    h('td', {class: 'row-actions'},
      h('button', {type: 'button', class: 'small', text: 'Respawn', onclick: () => act(`Respawn ${m.agent_identity}`,
        () => post(`${base}/members/${enc(m.agent_identity)}/respawn`))}),
      h('button', {type: 'button', class: 'small danger', text: 'Retire', onclick: () => {
        if (confirm(`Retire ${m.agent_identity}?`)) act(`Retire ${m.agent_identity}`, () => api('DELETE', `${base}/members/${enc(m.agent_identity)}`));
      }})))});
    update(wiring, [members.map((m) => [m.agent_identity, m.profile, m.status, m.peers]), selected], () => members.length ?
      drawWiring(members, {selected, onSelect: (m) => select(m.agent_identity)}) :
      h('p', {class: 'muted', text: 'Nothing to draw yet.'}));
    renderMemberPanel();
  }

  const sessionHref = (m) => `#/sessions/${enc(m.session_id)}?mob=${enc(mobId)}&member=${enc(m.agent_identity)}`;

  function renderMemberPanel() {
    const m = (mob.member_list || []).find((x) => x.agent_identity === selected);
    if (!m) {
      replace(memberPanel, h('p', {class: 'muted small', text: 'Select a member for its details.'}));
      return;
    }
    replace(memberPanel, h('dl', {class: 'facts'},
      h('dt', {text: 'Member'}), h('dd', {text: `${m.agent_identity} (${m.profile})`}),
      h('dt', {text: 'Peers'}), h('dd', {text: (m.peers || []).join(', ') || 'none'}),
      h('dt', {text: 'Session'}), h('dd', null, m.session_id ? h('a', {href: sessionHref(m), text: m.session_id}) : '—'),
      h('dt', {text: 'Tokens'}), h('dd', {text: fmt.tokens(usage[m.agent_identity]) || '0 (flow turns)'})));
  }

  function select(id) {
    selected = selected === id ? '' : id;
    renderMembers();
    for (const s of actions.querySelectorAll('select[name=member], select[name=a]')) if (selected) s.value = selected;
  }

  function renderHead() {
    update(state, mob.state, () => badge(mob.state));
    const lc = (action) => h('button', {type: 'button', class: 'small', text: action[0].toUpperCase() + action.slice(1),
      onclick: () => act(`${action} the mob`, () => post(`${base}/lifecycle`, {action}))});
    update(lifecycle, mob.state, () => mob.state === 'running' ? [lc('stop'), lc('complete')] : mob.state === 'stopped' ? [lc('resume'), lc('complete')] : []);
    update(defBox, mob.definition, () => [h('summary', {text: 'Definition'}), jsonView(mob.definition)]);
  }

  function renderRuns() {
    const sorted = [...runs].sort((a, b) => (b.started_at || '').localeCompare(a.started_at || ''));
    rows(runsBody, sorted, {key: (r) => r.run_id, sig: (r) => r,
      empty: () => h('tr', null, h('td', {colspan: 6, class: 'muted', text: 'No runs yet.'})),
      build: (r) => h('tr', {dataset: {run: r.run_id, status: r.status}},
      h('td', null, h('a', {href: `#/mobs/${enc(mobId)}/runs/${enc(r.run_id)}`, title: r.run_id, text: short(r.run_id)})),
      h('td', {text: r.flow_id}),
      h('td', null, badge(r.status)),
      h('td', {text: fmt.time(r.started_at)}),
      h('td', {class: 'num', text: fmt.duration(fmt.between(r.started_at, r.ended_at))}),
      h('td', {class: 'small', text: r.reason || ''}))});
    // A run in flight keeps its row; only its time so far moves.
    const byId = new Map(runs.map((r) => [r.run_id, r]));
    for (const tr of runsBody.querySelectorAll('tr[data-run]')) {
      const r = byId.get(tr.dataset.run);
      if (r && !r.ended_at) tr.children[4].textContent = fmt.duration(fmt.between(r.started_at));
    }
  }

  // flowPreview draws a flow's graph (GET …/flows/{flow}) into a box.
  function flowPreview(f) {
    const box = h('div', {class: 'graph-box preview'}, h('p', {class: 'small', text: `Steps: ${f.steps.join(', ')}`}));
    get(`${base}/flows/${enc(f.id)}`).then((detail) => replace(box, drawFlow(detail.graph).el)).catch(() => {});
    return box;
  }

  function renderFlows() {
    replace(flowsBox, flows.length ? flows.map((f) => form({class: 'flow-form', dataset: {flow: f.id}}, async (v) => {
      let params;
      try {
        params = JSON.parse(v.params || '{}');
      } catch (err) {
        throw new Error('params: ' + err.message);
      }
      const run = await post(`${base}/flows/${enc(f.id)}/runs`, {params});
      location.hash = `#/mobs/${enc(mobId)}/runs/${enc(run.run_id)}`;
    },
    h('h3', {text: f.id}),
    f.description ? h('p', {class: 'muted small', text: f.description}) : null,
    flowPreview(f),
    h('label', null, 'Params (JSON) ', h('textarea', {name: 'params', rows: 2, spellcheck: 'false', value: '{}'})),
    h('button', {type: 'submit', text: `Run ${f.id}`}))) :
      h('p', {class: 'muted', text: 'The definition has no flows.'}));
  }

  function renderActions() {
    const profiles = Object.keys(mob.definition?.profiles || {});
    const ids = (mob.member_list || []).map((m) => m.agent_identity);
    const pick = (name) => h('select', {name, required: true}, ids.map((id) => h('option', {value: id, text: id})));
    const answer = h('div', {class: 'answer', id: 'send-answer'});
    // What was typed or picked in the forms being rebuilt, to put back.
    const typed = [...actions.querySelectorAll('form :is(input, textarea, select)[name]')].map((e) => [e.form.id, e.name, e.value]);
    replace(actions,
      form({id: 'spawn-form'}, async (v) => {
        const body = {profile: v.profile};
        if (v.agent_identity) body.agent_identity = v.agent_identity;
        const m = await post(`${base}/members`, body);
        note(`Spawned ${m.agent_identity}.`);
        refresh();
      },
      h('h3', {text: 'Spawn'}),
      h('label', null, 'Profile ', h('select', {name: 'profile', required: true}, profiles.map((p) => h('option', {value: p, text: p})))),
      h('label', null, 'Identity ', h('input', {name: 'agent_identity', placeholder: 'default: from the profile'})),
      h('button', {type: 'submit', text: 'Spawn'})),
      form({id: 'wire-form'}, async (v, f, submitter) => {
        const how = submitter?.value || 'wire';
        await post(`${base}/members/${enc(v.a)}/${how}`, {peer: v.b});
        note(`${how === 'wire' ? 'Wired' : 'Unwired'} ${v.a} and ${v.b}.`);
        refresh();
      },
      h('h3', {text: 'Wiring'}),
      h('label', null, 'Member ', pick('a')),
      h('label', null, 'Peer ', pick('b')),
      h('span', {class: 'actions'},
        h('button', {type: 'submit', name: 'how', value: 'wire', text: 'Wire'}),
        h('button', {type: 'submit', name: 'how', value: 'unwire', class: 'secondary', text: 'Unwire'}))),
      form({id: 'send-form'}, async (v) => {
        replace(answer, h('p', {class: 'muted', text: `Waiting for ${v.member}…`}));
        const res = await post(`${base}/members/${enc(v.member)}/send`, {text: v.text});
        const a = res.answer || {};
        replace(answer, h('p', {class: 'small muted', text: `${v.member} answered (${fmt.tokens(a.usage)}):`}),
          a.structured_output ? jsonView(a.structured_output) : h('pre', {class: 'j-str', text: a.text ?? JSON.stringify(a)}));
      },
      h('h3', {text: 'Send a message'}),
      h('label', null, 'To ', pick('member')),
      h('label', {class: 'wide'}, 'Message ', h('textarea', {name: 'text', rows: 2, required: true})),
      h('button', {type: 'submit', text: 'Send'}),
      answer));
    for (const [form, name, value] of typed) {
      const e = actions.querySelector(`#${form} :is(input, textarea, select)[name="${name}"]`);
      if (e && (e.tagName !== 'SELECT' || [...e.options].some((o) => o.value === value))) e.value = value;
    }
    if (selected && !typed.length) for (const s of actions.querySelectorAll('select[name=member], select[name=a]')) s.value = selected;
  }

  const notice = h('p', {class: 'notice', hidden: true});
  el.insertBefore(notice, el.children[1]);
  function note(text, error = false) {
    notice.textContent = text;
    notice.className = error ? 'notice error' : 'notice';
    notice.hidden = false;
  }

  async function act(what, fn) {
    try {
      await fn();
      note(`${what}: done.`);
    } catch (err) {
      note(`${what}: ${err.message}`, true);
    }
    refresh();
  }

  let actionsFor = '';
  async function refresh() {
    try {
      [mob, runs] = await Promise.all([get(base), get(`${base}/runs`)]);
    } catch (err) {
      if (err.status === 404) replace(el, h('section', {class: 'panel'}, h('h1', {text: `No mob ${mobId}`}), h('a', {href: '#/', text: 'Overview'})));
      return;
    }
    if (!flows.length && mob.flows?.length) flows = await get(`${base}/flows`).catch(() => []);
    renderHead();
    renderMembers();
    renderRuns();
    if (!flowsBox.childElementCount) renderFlows();
    // Rebuild the forms only when the member set changes, not under the user's fingers.
    const key = (mob.member_list || []).map((m) => m.agent_identity).join(',');
    if (key !== actionsFor || !actions.childElementCount) {
      actionsFor = key;
      renderActions();
    }
  }

  const later = debounce(refresh, 200);
  const feed = follow({mob: mobId}, (ev) => {
    if (ev.type === 'step_target_completed' || ev.type === 'step_target_failed') {
      if (ev.usage && ev.member) usage[ev.member] = addUsage(usage[ev.member], ev.usage);
    }
    later();
  });
  // Runs' statuses change between events too (a polled view stays right
  // when the stream is down).
  const p = poll(async () => {
    if (runs.some((r) => !TERMINAL.has(r.status))) await refresh();
  }, 3000);
  refresh();
  return () => {
    feed.stop();
    p.stop();
    later.cancel();
  };
}

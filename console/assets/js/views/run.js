// Run view: the flow drawn as a DAG whose nodes take their state live from
// the run's events (pending, dispatched, awaiting approval, completed,
// failed, skipped, canceled); for the selected step its input message,
// outputs (structured output rendered), targets with attempts, errors and
// tokens; cancel the run; approve or reject a waiting approval step.

import {follow, get, poll, post} from '../api.js';
import {addUsage, badge, debounce, enc, fmt, form, h, head, jsonView, replace, rows, update} from '../dom.js';
import {drawFlow} from '../graph.js';

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

// The step state each event type puts a step in.
const STEP_STATE = {
  step_dispatched: 'dispatched',
  mobd_step_redispatched: 'dispatched',
  mobd_step_retry_scheduled: 'dispatched',
  mobd_approval_requested: 'awaiting_approval',
  step_completed: 'completed',
  step_failed: 'failed',
  step_skipped: 'skipped',
  mobd_step_canceled: 'canceled',
};
const RUN_END = {flow_completed: 'completed', flow_failed: 'failed', flow_canceled: 'canceled'};

export function mount(el, [mobId, runId]) {
  const base = `/v1/mobs/${enc(mobId)}/runs/${enc(runId)}`;
  let graph = null;
  let snap = null;
  let drawing = null;
  let selected = '';
  let runStatus = 'pending';
  const evStates = {}; // step or loop id → state, from events
  const stepUsage = {}; // step → usage
  const targetUsage = {}; // step|member → usage
  const decisions = {}; // step → decision event

  const top = h('div', {class: 'panel-head'});
  const facts = h('dl', {class: 'facts'});
  const graphBox = h('div', {class: 'graph-box', id: 'dag'}, h('p', {class: 'muted', text: 'Loading the flow…'}));
  const stepsBody = h('tbody');
  const detail = h('section', {class: 'panel', id: 'step-detail'});
  // The step's detail is drawn in three parts, the approval form alone in
  // the middle one: a redraw of the others leaves the form where it is,
  // so that it keeps the focus of someone typing in it.
  const detailHead = h('div');
  const approvalSlot = h('div');
  const detailBody = h('div');
  const notice = h('p', {class: 'notice', hidden: true});

  replace(el,
    h('p', {class: 'crumbs'}, h('a', {href: '#/', text: 'Overview'}), ' / ', h('a', {href: `#/mobs/${enc(mobId)}`, text: mobId}), ' / run'),
    notice,
    h('section', {class: 'panel', id: 'run-head'}, top, facts),
    h('section', {class: 'panel'}, h('h2', {text: 'Flow'}), graphBox,
      h('p', {class: 'legend small'}, ['pending', 'dispatched', 'awaiting_approval', 'completed', 'failed', 'skipped', 'canceled'].map((s) => badge(s)))),
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', id: 'steps'}, h('h2', {text: 'Steps'}),
        h('div', {class: 'scroll'}, h('table', {class: 'list'},
          head('Step', 'State', 'Targets', '#Attempts', '#Tokens'),
          stepsBody))),
      detail));

  function note(text, error = false) {
    notice.textContent = text;
    notice.className = error ? 'notice error' : 'notice';
    notice.hidden = !text;
  }

  // latest returns the step's newest ledger entry (a loop body step has
  // one per iteration).
  const latest = (step) => (snap?.steps || []).filter((s) => s.step_id === step).at(-1);

  function states() {
    const out = {};
    for (const s of snap?.steps || []) out[s.step_id] = s.status;
    return Object.assign(out, evStates);
  }

  function renderHead() {
    const status = snap?.status || runStatus;
    // Redrawn only when what they show changes: a refresh (any event of
    // the run) must not take a button or a link from under the pointer.
    const flowId = snap?.flow_id || graph?.flow_id || '…';
    update(top, [flowId, status], () => [h('div', null, h('h1', {text: `Run of ${flowId}`}), ' ',
      h('span', {id: 'run-status', dataset: {status}}, badge(status))), cancelButton(status)]);
    if (!snap) return;
    update(facts, [snap.started_at, snap.reason, snap.accounting?.usage_total, graph?.params], () => [
      h('dt', {text: 'Run'}), h('dd', {class: 'mono', text: runId}),
      h('dt', {text: 'Started'}), h('dd', {text: fmt.time(snap.started_at)}),
      h('dt', {text: 'Took'}), h('dd', {class: 'took'}),
      snap.reason ? [h('dt', {text: 'Reason'}), h('dd', {text: snap.reason})] : null,
      h('dt', {text: 'Tokens'}), h('dd', {text: fmt.tokens(snap.accounting?.usage_total) || '0'}),
      h('dt', {text: 'Params'}), h('dd', null, jsonView(graph?.params ?? {})),
      h('dt', {text: 'Events'}), h('dd', null, h('a', {href: `#/events?mob=${enc(mobId)}&run=${enc(runId)}`, text: 'this run\'s events'}))]);
    facts.querySelector('dd.took').textContent = fmt.duration(fmt.between(snap.started_at, snap.ended_at)) + (snap.ended_at ? '' : ' so far');
  }

  function cancelButton(status) {
    return !TERMINAL.has(status) ? h('button', {type: 'button', class: 'danger', id: 'cancel-run', text: 'Cancel run', onclick: async () => {
      if (!confirm('Cancel this run?')) return;
      try {
        await post(`${base}/cancel`, {reason: 'canceled from the console'});
        note('Run canceled.');
      } catch (err) {
        note(`Cancel: ${err.message}`, true);
      }
      refreshSnap();
    }}) : null;
  }

  function renderGraph() {
    const vertical = graphBox.clientWidth > 0 && graphBox.clientWidth < 640;
    drawing = drawFlow(graph.graph, {vertical, onSelect: (n) => select(n.step_id || n.loop_id)});
    replace(graphBox, drawing.el);
  }

  function renderSteps() {
    if (!graph) return;
    const st = states();
    drawing?.setStates(st);
    drawing?.select(graph.graph.nodes.find((n) => (n.step_id || n.loop_id) === selected)?.id);
    const stepKey = (n) => n.step_id || n.loop_id;
    rows(stepsBody, graph.graph.nodes, {key: stepKey,
      sig: (n) => [n, st[stepKey(n)], latest(stepKey(n)), stepKey(n) === selected, stepUsage[stepKey(n)]?.total_tokens], build: (n) => {
      const key = stepKey(n);
      const rec = latest(key);
      const attempts = (rec?.targets || []).reduce((s, t) => s + (t.attempts || 0), 0);
      return h('tr', {dataset: {step: key, state: st[key] || 'pending'}, class: key === selected ? 'selected' : null},
        h('td', null, h('button', {class: 'link', type: 'button', text: n.parent ? `${n.parent} › ${key}` : key, onclick: () => select(key)})),
        h('td', null, badge(st[key] || 'pending')),
        h('td', {text: (rec?.targets || []).map((t) => t.agent_identity).join(', ') || (n.approval ? 'approval' : '')}),
        h('td', {class: 'num', text: attempts || ''}),
        h('td', {class: 'num', text: stepUsage[key]?.total_tokens ?? ''}));
    }});
    renderDetail();
  }

  function select(key) {
    selected = key;
    renderSteps();
    if (innerWidth < 800) detail.scrollIntoView({behavior: 'smooth', block: 'start'});
  }

  let shown = ''; // what the detail panel shows, to redraw it only when that changes
  function renderDetail() {
    const n = graph?.graph.nodes.find((x) => (x.step_id || x.loop_id) === selected);
    if (!n) {
      replace(detail, h('h2', {text: 'Step'}), h('p', {class: 'muted', text: 'Select a step in the graph or the list.'}));
      shown = '';
      return;
    }
    const st = states()[selected] || 'pending';
    const rec = latest(selected);
    const output = snap?.outputs?.[selected] ?? rec?.output;
    const input = graph.inputs?.[selected];
    const failures = (snap?.failures || []).filter((f) => f.step_id === selected);
    const sessions = snap?.accounting?.member_session_ids || {};
    const sig = JSON.stringify([selected, st, rec, output, input, failures, stepUsage[selected], decisions[selected], sessions,
      rec?.targets?.map((t) => targetUsage[`${selected}|${t.agent_identity}`])]);
    if (sig === shown) return;
    shown = sig;
    if (approvalSlot.parentNode !== detail) replace(detail, detailHead, approvalSlot, detailBody);
    replace(detailHead,
      h('div', {class: 'panel-head'}, h('h2', {text: selected}), badge(st)),
      h('dl', {class: 'facts'},
        n.kind === 'repeat_until' ?
          [h('dt', {text: 'Loop'}), h('dd', {text: `repeats its body until the condition holds, at most ${n.max_iterations} times`}),
            h('dt', {text: 'Until'}), h('dd', null, jsonView(n.until))] :
          [h('dt', {text: n.approval ? 'Approval' : 'Role'}), h('dd', {text: n.approval ? `approvers: ${(n.approval.approvers || []).join(', ') || 'anyone'}` : `${n.role} (${n.dispatch_mode || 'fan_out'})`})],
        n.depends_on?.length ? [h('dt', {text: 'After'}), h('dd', {text: `${n.depends_on.join(', ')} (${n.mode || 'all'})`})] : null,
        n.condition ? [h('dt', {text: 'Condition'}), h('dd', null, jsonView(n.condition))] : null,
        rec?.reason ? [h('dt', {text: 'Reason'}), h('dd', {text: rec.reason})] : null,
        stepUsage[selected] ? [h('dt', {text: 'Tokens'}), h('dd', {text: fmt.tokens(stepUsage[selected])})] : null),
      n.message ? [h('h3', {text: input !== undefined ? (n.approval ? 'Question' : 'Input message') : 'Message template'}),
        h('pre', {class: 'j-str input', text: input ?? n.message})] : null);
    const approval = st === 'awaiting_approval' ? openApproval(n) : null;
    if (approvalSlot.firstChild !== approval) replace(approvalSlot, approval);
    replace(detailBody,
      decisions[selected] && (output === undefined || output === null) ? [h('h3', {text: 'Decision'}), jsonView(decisions[selected])] : null,
      output !== undefined && output !== null ? [h('h3', {text: 'Output'}), h('div', {class: 'output'}, jsonView(output))] : null,
      rec?.targets?.length ? [h('h3', {text: 'Targets'}), h('div', {class: 'scroll'}, h('table', {class: 'list targets'},
        head('Member', 'Status', '#Attempts', '#Tokens', 'Output / error'),
        h('tbody', null, rec.targets.map((t) => h('tr', {dataset: {target: t.agent_identity}},
          h('td', null, sessions[t.agent_identity] ?
            h('a', {href: `#/sessions/${enc(sessions[t.agent_identity])}?mob=${enc(mobId)}&member=${enc(t.agent_identity)}`, text: t.agent_identity}) :
            t.agent_identity),
          h('td', null, badge(t.status)),
          h('td', {class: 'num', text: t.attempts}),
          h('td', {class: 'num', text: targetUsage[`${selected}|${t.agent_identity}`]?.total_tokens ?? ''}),
          h('td', null, t.error ? h('p', {class: 'error', text: t.error}) : t.output !== undefined ? jsonView(t.output) : ''))))))] : null,
      failures.length ? [h('h3', {text: 'Failures'}), h('ul', {class: 'failures'}, failures.map((f) =>
        h('li', null, h('strong', {text: f.reason}), ` ${f.agent_identity ? f.agent_identity + ' attempt ' + f.attempt + ': ' : ''}${f.error}`,
          h('span', {class: 'muted small', text: ` ${fmt.time(f.timestamp)}`}))))] : null);
  }

  // The approval forms shown, by step: a redraw (an event, a poll, the
  // user looking at another step) puts the same form back, with what was
  // typed in it.
  const approvals = new Map();
  function openApproval(n) {
    for (const step of approvals.keys()) if (states()[step] !== 'awaiting_approval') approvals.delete(step);
    if (!approvals.has(n.step_id)) approvals.set(n.step_id, approvalForm(n));
    return approvals.get(n.step_id);
  }

  function approvalForm(n) {
    return form({id: 'approval-form', class: 'approval'}, async (v, f, submitter) => {
      const approved = submitter?.value !== 'reject';
      const body = {approved, comment: v.comment || ''};
      if (v.by) body.by = v.by;
      await post(`${base}/steps/${enc(n.step_id)}/decision`, body);
      note(`${n.step_id}: ${approved ? 'approved' : 'rejected'}.`);
      refreshSnap();
    },
    h('h3', {text: 'Waiting for a decision'}),
    (n.approval?.approvers || []).length ?
      h('label', null, 'As ', h('select', {name: 'by'}, n.approval.approvers.map((a) => h('option', {value: a, text: a})))) :
      h('label', null, 'As ', h('input', {name: 'by', placeholder: 'your name (optional)'})),
    h('label', {class: 'wide'}, 'Comment ', h('textarea', {name: 'comment', id: 'approval-comment', rows: 2})),
    h('span', {class: 'actions'},
      h('button', {type: 'submit', name: 'decision', value: 'approve', id: 'approve', text: 'Approve'}),
      h('button', {type: 'submit', name: 'decision', value: 'reject', id: 'reject', class: 'danger', text: 'Reject'})));
  }

  async function refreshSnap() {
    try {
      snap = await get(base);
    } catch (err) {
      if (err.status === 404) note(`No run ${runId} in mob ${mobId}.`, true);
      return;
    }
    runStatus = snap.status;
    renderHead();
    renderSteps();
    if (!selected) {
      const waiting = (snap.steps || []).find((s) => s.status === 'awaiting_approval');
      if (waiting) select(waiting.step_id);
    }
  }

  async function refreshGraph() {
    try {
      graph = await get(`${base}/graph`);
    } catch (err) {
      replace(graphBox, h('p', {class: 'error', text: `Cannot draw the flow: ${err.message}`}));
      return;
    }
    if (!drawing) renderGraph();
    renderHead();
    renderSteps();
  }

  const laterSnap = debounce(refreshSnap, 150);
  const laterGraph = debounce(refreshGraph, 300);
  const feed = follow({mob: mobId, run: runId}, (ev) => {
    if (ev.run_id !== runId) return;
    if (STEP_STATE[ev.type] && ev.step_id) evStates[ev.step_id] = STEP_STATE[ev.type];
    if (ev.type === 'mobd_loop_iteration_started') evStates[ev.loop_id] = 'dispatched';
    if (ev.type === 'mobd_loop_completed') evStates[ev.loop_id] = ev.class ? 'failed' : 'completed';
    if (ev.type === 'mobd_approval_decided') decisions[ev.step_id] = ev.decision;
    if (RUN_END[ev.type]) {
      // As the daemon does: a run that ends cancels its steps still going.
      runStatus = RUN_END[ev.type];
      for (const [k, v] of Object.entries(evStates)) if (v === 'dispatched' || v === 'awaiting_approval') evStates[k] = 'canceled';
    }
    if (ev.usage && (ev.type === 'step_target_completed' || ev.type === 'step_target_failed')) {
      stepUsage[ev.step_id] = addUsage(stepUsage[ev.step_id], ev.usage);
      const k = `${ev.step_id}|${ev.member}`;
      targetUsage[k] = addUsage(targetUsage[k], ev.usage);
    }
    if (ev.type === 'step_dispatched' || ev.type === 'mobd_approval_requested') laterGraph();
    drawing?.setStates(states());
    laterSnap();
  });
  const p = poll(async () => {
    if (!snap || !TERMINAL.has(snap.status)) await refreshSnap();
  }, 3000);
  refreshGraph();
  return () => {
    feed.stop();
    p.stop();
    laterSnap.cancel();
    laterGraph.cancel();
  };
}

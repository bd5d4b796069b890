// Session view: a session's transcript from the sessions API (user and
// assistant messages, tool calls and their results), refreshed when the
// session's message count changes, and a prompt box that runs a turn on
// the session through the streamed-turn endpoint, showing the text as it
// is generated, the tool calls and their results.

import {get, poll, streamTurn} from '../api.js';
import {badge, enc, fmt, form, h, jsonView, replace, short, update} from '../dom.js';

const PAGE = 200;
const MAX_PAGES = 10;

export function mount(el, [sessionId], query) {
  const mobId = query.get('mob');
  const member = query.get('member');
  const base = `/v1/sessions/${enc(sessionId)}`;
  let count = -1;
  let streaming = false;

  const facts = h('dl', {class: 'facts'});
  const stateBadge = h('span');
  const transcript = h('ol', {class: 'transcript', id: 'transcript'});
  const more = h('p', {class: 'muted small'});
  const live = h('div', {id: 'live-turn', class: 'live', hidden: true});

  replace(el,
    h('p', {class: 'crumbs'}, h('a', {href: '#/', text: 'Overview'}),
      mobId ? [' / ', h('a', {href: `#/mobs/${enc(mobId)}`, text: mobId})] : null, ' / session'),
    h('section', {class: 'panel'},
      h('div', {class: 'panel-head'}, h('h1', {text: member ? `${member}'s session` : 'Session'}), stateBadge),
      facts),
    h('section', {class: 'panel'}, h('h2', {text: 'Transcript'}), more, transcript, live,
      form({id: 'turn-form', class: 'composer'}, async (v, f) => {
        await runTurn(v.prompt);
        f.reset();
      },
      h('label', {class: 'wide'}, 'Run a turn on this session (streamed) ',
        h('textarea', {name: 'prompt', id: 'turn-prompt', rows: 2, required: true, placeholder: 'What is the capital of France?'})),
      h('button', {type: 'submit', text: 'Send'}))));

  async function refreshStatus() {
    let st;
    try {
      st = await get(base);
    } catch (err) {
      if (err.status === 404) update(facts, {missing: err.message}, () => h('p', {class: 'error', text: `No session ${sessionId}: ${err.message}`}));
      throw err;
    }
    const d = st.details || {};
    const state = st.running ? 'running' : st.attached ? 'attached' : 'detached';
    update(stateBadge, state, () => badge(state));
    // Redrawn when they change only: a poll must not undo a selection.
    update(facts, [st, d], () => [
      h('dt', {text: 'Session'}), h('dd', {class: 'mono', text: sessionId}),
      member ? [h('dt', {text: 'Member'}), h('dd', {text: `${member} of ${mobId}`})] : null,
      h('dt', {text: 'Runtime'}), h('dd', {text: `${st.runtime} (generation ${st.generation})`}),
      h('dt', {text: 'Turns'}), h('dd', {text: `${st.running ? 'one running' : 'idle'}, ${st.queued} queued`}),
      d.model ? [h('dt', {text: 'Model'}), h('dd', {text: `${d.model}${d.provider ? ' on ' + d.provider : ''}`})] : null,
      d.message_count !== undefined ? [h('dt', {text: 'Messages'}), h('dd', {text: d.message_count})] : null,
      st.error ? [h('dt', {text: 'Error'}), h('dd', {class: 'error', text: st.error})] : null]);
    const n = d.message_count ?? -2;
    if (n !== count && !streaming) {
      count = n;
      await refreshHistory();
    }
  }

  async function refreshHistory() {
    const messages = [];
    let offset = 0;
    let hasMore = true;
    for (let page = 0; hasMore && page < MAX_PAGES; page++) {
      const res = await get(`${base}/history?offset=${offset}&limit=${PAGE}`);
      messages.push(...res.messages);
      offset += res.messages.length;
      hasMore = res.has_more && res.messages.length > 0;
    }
    more.textContent = hasMore ? `Showing the first ${messages.length} messages.` : `${messages.length} messages.`;
    const tools = new Map(); // tool call id → tool name, for the results
    replace(transcript, messages.map((m) => renderMessage(m, tools)));
    if (live.dataset.done) live.hidden = true; // the finished turn is in the transcript now
  }

  async function runTurn(prompt) {
    streaming = true;
    const text = h('span', {class: 'text'});
    const body = h('div', {class: 'body'}, text);
    const status = h('p', {class: 'muted small', text: 'streaming…'});
    const results = new Set();
    replace(live, h('div', {class: 'msg user'}, h('span', {class: 'role', text: 'you'}), h('pre', {class: 'j-str', text: prompt})),
      h('div', {class: 'msg assistant'}, h('span', {class: 'role', text: 'assistant (live)'}), body, status));
    live.hidden = false;
    delete live.dataset.done;
    let current = text;
    try {
      const res = await streamTurn(sessionId, prompt, (name, data) => {
        if (name === 'text_delta') current.append(data?.delta ?? '');
        else if (name === 'tool_call_requested') {
          body.append(toolCall(data.name, data.args, data.id));
          current = h('span', {class: 'text'});
          body.append(current);
        } else if ((name === 'tool_result_received' || name === 'tool_execution_completed') && !results.has(data.id)) {
          results.add(data.id);
          body.insertBefore(toolResult(data.name || data.id, data.content, data.is_error), current);
        } else if (name === 'turn_started' && data?.turn_number > 1) status.textContent = `streaming (model call ${data.turn_number})…`;
      });
      status.textContent = `done: ${fmt.tokens(res.usage)}${res.attempts > 1 ? `, ${res.attempts} attempts` : ''}`;
      live.dataset.done = 'true';
    } catch (err) {
      status.textContent = `failed: ${err.message}`;
      status.className = 'error';
    } finally {
      streaming = false;
    }
    await refreshStatus().catch(() => {});
  }

  const p = poll(refreshStatus, 3000);
  return () => p.stop();
}

// textOf returns the text of message content: a string, or blocks.
function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (b.type === 'text' ? b.text : `[${b.type}]`)).join('\n');
  return content === undefined ? '' : JSON.stringify(content);
}

// textOrJSON renders an answer: structured output (a JSON object or
// array) as a table, anything else as text.
function textOrJSON(text) {
  if (/^\s*[[{]/.test(text)) {
    try {
      return h('div', {class: 'output'}, jsonView(JSON.parse(text)));
    } catch {
      // not JSON after all
    }
  }
  return h('pre', {class: 'j-str', text});
}

function toolCall(name, args, id) {
  return h('div', {class: 'tool call', dataset: {tool: name || ''}}, h('span', {class: 'role', text: `tool call: ${name}`}),
    id ? h('span', {class: 'muted small', title: id, text: ` ${short(id, 12)}`}) : null, jsonView(args ?? {}));
}

function toolResult(name, content, isError) {
  return h('div', {class: `tool result${isError ? ' failed' : ''}`},
    h('span', {class: 'role', text: `${isError ? 'tool error' : 'tool result'}: ${name}`}),
    h('pre', {class: 'j-str', text: textOf(content)}));
}

// renderMessage renders one history message: user, system, assistant
// (text or blocks), tool results; anything else as JSON. tools maps the
// ids of the tool calls seen so far to their names.
function renderMessage(m, tools) {
  const at = m.created_at ? h('span', {class: 'muted small', text: ` ${fmt.time(m.created_at)}`}) : null;
  const item = (cls, role, ...body) => h('li', {class: `msg ${cls}`}, h('span', {class: 'role', text: role}), at, ...body);
  switch (m.role) {
    case 'user':
      return item('user', 'user', h('pre', {class: 'j-str', text: textOf(m.content)}));
    case 'system':
      return item('system', 'system', h('pre', {class: 'j-str', text: textOf(m.content)}));
    case 'assistant':
    case 'block_assistant': {
      const blocks = m.blocks || (m.content !== undefined ? [{block_type: 'text', data: {text: textOf(m.content)}}] : []);
      return item('assistant', 'assistant', blocks.map((b) => {
        const d = b.data || b;
        if (b.block_type === 'text' || b.type === 'text') return textOrJSON(d.text ?? '');
        if (b.block_type === 'tool_use' || b.type === 'tool_use') {
          tools.set(d.id, d.name);
          return toolCall(d.name, d.args ?? d.input, d.id);
        }
        if (/reason|think/.test(b.block_type || b.type || '')) return h('details', {class: 'muted'}, h('summary', {text: 'reasoning'}), h('pre', {class: 'j-str', text: d.text ?? JSON.stringify(d)}));
        return jsonView(b);
      }), m.stop_reason && m.stop_reason !== 'end_turn' ? h('p', {class: 'muted small', text: `stop: ${m.stop_reason}`}) : null);
    }
    case 'tool_results':
      return item('tools', 'tool results', (m.results || []).map((r) =>
        toolResult(tools.get(r.tool_use_id) || short(r.tool_use_id, 14), r.content, r.is_error)));
    default:
      return item('other', m.role || 'message', jsonView(m));
  }
}

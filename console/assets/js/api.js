// api.js: the daemon's API as the console uses it. The token lives in the
// tab's sessionStorage and goes in the Authorization header of every
// request; event streams are read with fetch (EventSource cannot send
// headers), so the token never appears in a URL. The connection state
// (ok, down, auth) is shared with the page, which shows the banner or the
// token dialog.

const TOKEN_KEY = 'mobd.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// APIError is an error answer of the API (status and code as the API
// gives them), or status 0 when the daemon could not be reached.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// conn is the connection to the daemon: state "unknown", "ok", "down"
// (unreachable) or "auth" (the token is missing or wrong).
export const conn = {state: 'unknown', detail: ''};
const connListeners = new Set();

export function onConn(fn) {
  connListeners.add(fn);
  return () => connListeners.delete(fn);
}

export function setConn(state, detail = '') {
  if (conn.state === state && conn.detail === detail) return;
  const prev = conn.state;
  conn.state = state;
  conn.detail = detail;
  for (const fn of connListeners) fn(conn, prev);
}

// Retry: the banner's "Retry now" wakes every poller and every stream
// waiting to reconnect.
const retryListeners = new Set();
export function retryNow() {
  for (const fn of [...retryListeners]) fn();
}

// sleep waits ms, or less when retryNow is called or signal aborts.
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      retryListeners.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    retryListeners.add(done);
    signal?.addEventListener('abort', done);
  });
}

function headers(extra) {
  const h = new Headers(extra);
  const t = token.get();
  if (t) h.set('Authorization', 'Bearer ' + t);
  return h;
}

async function failure(resp) {
  let code = 'http_error';
  let message = `HTTP ${resp.status}`;
  try {
    const body = await resp.json();
    if (body.error) ({code, message} = body.error);
  } catch {
    // not a typed error
  }
  if (resp.status === 401) setConn('auth', message);
  return new APIError(resp.status, code, message);
}

// send fetches path, marking the daemon down when it cannot be reached
// and up when it answers.
async function send(path, init) {
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (init.signal?.aborted) throw err;
    setConn('down', 'no answer from ' + location.host);
    throw new APIError(0, 'unreachable', 'mobd is unreachable');
  }
  if (resp.status === 502 || resp.status === 504) {
    setConn('down', `HTTP ${resp.status} from a proxy`);
    throw new APIError(resp.status, 'unreachable', 'mobd is unreachable');
  }
  if (!resp.ok) throw await failure(resp);
  setConn('ok');
  return resp;
}

// api sends a request with an optional JSON body and returns the decoded
// JSON answer (null for 204), or throws an APIError.
export async function api(method, path, body, {signal} = {}) {
  const init = {method, headers: headers(), signal};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers.set('Content-Type', 'application/json');
  }
  const resp = await send(path, init);
  return resp.status === 204 ? null : resp.json();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);

// readSSE reads a text/event-stream body and calls onEvent({id, event,
// data}) for every event; it returns when the stream ends.
async function readSSE(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = {id: '', event: '', data: []};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (ev.data.length) onEvent({id: ev.id, event: ev.event || 'message', data: ev.data.join('\n')});
        ev = {id: '', event: '', data: []};
        continue;
      }
      if (line.startsWith(':')) continue; // a heartbeat
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      let val = i < 0 ? '' : line.slice(i + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (name === 'data') ev.data.push(val);
      else if (name === 'event') ev.event = val;
      else if (name === 'id') ev.id = val;
    }
  }
}

// follow subscribes to GET /v1/events with filters (mob, member, run,
// session), from after the cursor `after`, and calls onEvent(event) for
// each mob event. It reconnects after an error or the end of the stream
// with Last-Event-ID set to the last event it saw, so nothing is missed or
// seen twice. onState(state, info) learns "live", "reconnecting" and
// "auth"; info has {last, reconnects}. stop() ends it.
export function follow(filters, onEvent, {after = 0, onState} = {}) {
  let last = after;
  let reconnects = 0;
  const ctrl = new AbortController();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters || {})) if (v) q.set(k, v);

  async function loop() {
    let backoff = 500;
    while (!ctrl.signal.aborted) {
      try {
        const h = headers();
        if (last) h.set('Last-Event-ID', String(last));
        const resp = await send('/v1/events?' + q, {headers: h, signal: ctrl.signal});
        onState?.('live', {last, reconnects});
        backoff = 500;
        await readSSE(resp.body, (ev) => {
          if (ev.event === 'error') return; // the daemon gave up on the stream: reconnect
          if (ev.id) last = Number(ev.id);
          let data;
          try {
            data = JSON.parse(ev.data);
          } catch {
            return;
          }
          try {
            onEvent(data);
          } catch (err) {
            console.error('event handler', err);
          }
        });
      } catch (err) {
        if (ctrl.signal.aborted) return;
        if (err instanceof TypeError) setConn('down', 'event stream broken'); // the connection dropped mid-stream
        if (err instanceof APIError && err.status === 401) onState?.('auth', {last, reconnects});
        else if (err instanceof APIError && err.code === 'cursor_ahead') last = 0; // another journal (a reset state directory): follow it from its start
        else if (err instanceof APIError && err.status === 400) {
          onState?.('refused', {last, reconnects, message: err.message}); // the same request would be refused again
          return;
        }
      }
      if (ctrl.signal.aborted) return;
      reconnects++;
      onState?.('reconnecting', {last, reconnects});
      await sleep(backoff, ctrl.signal);
      backoff = Math.min(backoff * 2, 8000);
    }
  }
  loop();
  return {
    stop: () => ctrl.abort(),
    get last() {
      return last;
    },
  };
}

// streamTurn runs a turn on a session with POST …/turns/stream and calls
// onEvent(name, data) for each streamed agent event, then returns the
// turn's result; a failed turn throws an APIError.
export async function streamTurn(sessionId, prompt, onEvent, {signal} = {}) {
  const h = headers({'Content-Type': 'application/json'});
  const resp = await send(`/v1/sessions/${encodeURIComponent(sessionId)}/turns/stream`,
    {method: 'POST', headers: h, body: JSON.stringify({prompt}), signal});
  let result;
  let failed;
  await readSSE(resp.body, (ev) => {
    let data = null;
    try {
      data = JSON.parse(ev.data);
    } catch {
      // not JSON: skip
    }
    if (ev.event === 'result') result = data;
    else if (ev.event === 'error') failed = data?.error;
    else onEvent(ev.event, data);
  });
  if (failed) throw new APIError(500, failed.code, failed.message);
  if (!result) throw new APIError(0, 'unreachable', 'the turn stream ended without a result');
  return result;
}

// poll calls fn now and then every ms after it returns, until stop();
// retryNow runs it at once. Errors are left to the connection state.
export function poll(fn, ms) {
  const ctrl = new AbortController();
  (async () => {
    while (!ctrl.signal.aborted) {
      try {
        await fn(ctrl.signal);
      } catch (err) {
        if (!(err instanceof APIError) && !ctrl.signal.aborted) console.error(err);
      }
      await sleep(ms, ctrl.signal);
    }
  })();
  return {stop: () => ctrl.abort()};
}

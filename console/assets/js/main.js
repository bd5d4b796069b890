// main.js: the page — hash routing, the token dialog, and the banner shown
// while the daemon is unreachable.

import {conn, get, onConn, retryNow, setConn, sleep, token} from './api.js';
import {h, replace} from './dom.js';
import * as overview from './views/overview.js';
import * as mobView from './views/mob.js';
import * as runView from './views/run.js';
import * as sessionView from './views/session.js';
import * as eventsView from './views/events.js';

// Each route is a pattern of the hash path and the view it mounts. A view's
// mount(el, params, query) returns a function that stops what it started.
const routes = [
  [/^\/$/, overview, 'overview'],
  [/^\/mobs\/([^/]+)$/, mobView, 'overview'],
  [/^\/mobs\/([^/]+)\/runs\/([^/]+)$/, runView, 'overview'],
  [/^\/sessions\/([^/]+)$/, sessionView, 'overview'],
  [/^\/events$/, eventsView, 'events'],
];

const main = document.getElementById('view');
let unmount = null;

// route mounts the view of the current hash.
function route() {
  unmount?.();
  unmount = null;
  const [path, qs] = (location.hash.slice(1) || '/').split('?');
  const query = new URLSearchParams(qs || '');
  for (const [re, view, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
    main.replaceChildren();
    try {
      unmount = view.mount(main, m.slice(1).map(decodeURIComponent), query) || null;
    } catch (err) {
      console.error(err);
      replace(main, h('section', {class: 'panel'}, h('h1', {text: 'This view failed'}), h('p', {class: 'error', text: String(err)})));
    }
    window.scrollTo(0, 0);
    return;
  }
  replace(main, h('section', {class: 'panel'}, h('h1', {text: 'Not found'}),
    h('p', null, 'No view for ', h('code', {text: location.hash}), '. ', h('a', {href: '#/', text: 'Back to the overview'}))));
}

// The banner: shown while the daemon is unreachable, with a countdown to
// the next probe of /healthz and a button to probe now.
const banner = document.getElementById('banner');
const bannerText = document.getElementById('banner-text');
const connLabel = document.getElementById('conn');
let probing = false;

async function probe() {
  if (probing) return;
  probing = true;
  let wait = 1000;
  while (conn.state === 'down') {
    for (let left = Math.ceil(wait / 1000); left > 0 && conn.state === 'down'; left--) {
      bannerText.textContent = `Cannot reach mobd at ${location.host} (${conn.detail}). ` +
        `What you see may be stale. Retrying in ${left}s…`;
      const before = Date.now();
      await sleep(1000);
      if (Date.now() - before < 950) break; // "Retry now"
    }
    if (conn.state !== 'down') break;
    bannerText.textContent = `Cannot reach mobd at ${location.host}. Retrying…`;
    try {
      const resp = await fetch('/healthz', {cache: 'no-store'});
      if (resp.ok) {
        setConn('ok');
        retryNow(); // wake the views' pollers and streams
      }
    } catch {
      // still down
    }
    wait = Math.min(wait * 2, 15000);
  }
  probing = false;
}

// The token dialog: shown when the API answers 401.
const dialog = document.getElementById('token-dialog');
const tokenInput = document.getElementById('token-input');
const tokenError = document.getElementById('token-error');
const forget = document.getElementById('forget');

function askToken(message) {
  tokenError.hidden = !message || !token.get();
  tokenError.textContent = token.get() ? 'The daemon refused this token: ' + message : '';
  if (!dialog.open) dialog.showModal();
  tokenInput.focus();
}

document.getElementById('token-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  token.set(tokenInput.value.trim());
  try {
    await get('/v1/mobs');
  } catch (err) {
    tokenError.textContent = err.status === 401 ? 'The daemon refused this token.' : err.message;
    tokenError.hidden = false;
    return;
  }
  tokenInput.value = '';
  dialog.close();
  route();
});
dialog.addEventListener('cancel', (e) => e.preventDefault()); // nothing works without a token

forget.addEventListener('click', () => {
  token.clear();
  location.reload();
});

onConn((c, prev) => {
  connLabel.textContent = {ok: 'connected', down: 'unreachable', auth: 'token needed'}[c.state] || c.state;
  connLabel.className = `conn c-${c.state}`;
  banner.hidden = c.state !== 'down';
  forget.hidden = !token.get();
  if (c.state === 'down') probe();
  if (c.state === 'auth') askToken(c.detail);
  if (c.state === 'ok' && prev === 'down') banner.hidden = true;
});

document.getElementById('banner-retry').addEventListener('click', () => retryNow());
window.addEventListener('hashchange', route);
route();

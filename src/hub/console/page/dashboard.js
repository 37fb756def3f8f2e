// The live dashboard: login, the stream, and one render pass per animation
// frame. Device data is untrusted and only ever reaches the page as text.
// What the token may do (`authed.scopes`) decides which panels exist.
import { CommandPanel } from './command-panel.js';
import { ConfigPanel } from './config-panel.js';
import { DeviceView } from './device-view.js';
import { FleetModel } from './fleet-model.js';
import { FleetTable } from './fleet-table.js';
import { formatCount, formatExpiry } from './format.js';
import { StreamClient } from './stream-client.js';

const TOKEN_KEY = 'fleethub.token';
const $ = (id) => document.getElementById(id);

const model = new FleetModel();
let client = null;
let token = null;
let expiresAt = 0;
let frame = 0;
let lastFullRender = 0;
let toastTimer = 0;

const table = new FleetTable($('fleet-body'), $('fleet-empty'), selectDevice);
const deviceView = new DeviceView({
  title: $('device-title'), state: $('device-state'), hint: $('device-hint'), facts: $('device-facts'),
  seen: $('device-seen'), seq: $('device-seq'), rate: $('device-rate'), charts: $('charts'),
  fields: $('device-fields'), fieldsBody: $('device-fields-body'), ranges: $('ranges'), historyNote: $('history-note'),
}, () => token);
const send = (message) => client?.send(message);
const commandPanel = new CommandPanel({
  panel: $('command-panel'), form: $('command-form'), name: $('command-name'), args: $('command-args'), submit: $('command-send'),
  error: $('command-error'), list: $('command-list'), empty: $('command-empty'),
}, send);
const configPanel = new ConfigPanel({
  panel: $('config-panel'), version: $('config-version'), sync: $('config-sync'), desired: $('config-desired'), acked: $('config-acked'),
  form: $('config-form'), text: $('config-text'), submit: $('config-save'), error: $('config-error'),
}, send);

function selectDevice(id) {
  table.select(id);
  deviceView.show(id);
  commandPanel.show(id);
  configPanel.show(id);
  schedule();
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status-text').textContent = text;
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 4000);
}

function schedule() {
  if (frame === 0) frame = requestAnimationFrame(render);
}

/** One pass: the rows that changed, the clocks once a second, the chart, the counters. */
function render() {
  frame = 0;
  const now = Date.now();
  const full = now - lastFullRender >= 1000;
  if (full) lastFullRender = now;
  table.render(model, now, full);
  deviceView.render(model, now);
  if (full || model.dirty.size > 0) {
    $('stat-online').textContent = formatCount(model.onlineCount());
    $('stat-total').textContent = `/ ${formatCount(model.devices.size)}`;
    $('stat-rate').textContent = formatCount(model.fleetRate(now));
    $('stat-rejected').textContent = formatCount(model.rejectedTotal);
    $('stat-dropped').textContent = formatCount(model.dropped);
    $('expiry').textContent = expiresAt ? formatExpiry(expiresAt, now) : '';
    $('expiry').classList.toggle('soon', expiresAt > 0 && expiresAt - now < 5 * 60 * 1000);
  }
  if (model.rejectionsChanged) renderRejections();
  model.dirty.clear();
  model.added = false;
}

function renderRejections() {
  model.rejectionsChanged = false;
  const items = model.rejections.slice(0, 50).map((r) => {
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.textContent = new Date(r.at).toLocaleTimeString();
    const device = document.createElement('button');
    device.type = 'button';
    device.className = 'link';
    device.textContent = r.device;
    device.addEventListener('click', () => selectDevice(r.device));
    const code = document.createElement('span');
    code.className = 'code';
    code.textContent = r.count > 1 ? `${r.code} ×${r.count}` : r.code;
    li.append(time, device, code);
    return li;
  });
  $('rejections').replaceChildren(...items);
  $('rejections-empty').hidden = items.length > 0;
}

function onMessage(m) {
  if (m.authed) {
    expiresAt = m.authed.expiresAt;
    $('scope').textContent = m.authed.devices;
    // A hub from before scopes sends none: such tokens read only.
    const scopes = Array.isArray(m.authed.scopes) ? m.authed.scopes : ['read'];
    $('scope-words').textContent = scopes.join(', ');
    $('fleet-empty').textContent = scopes.includes('read') ? 'Waiting for devices…' : 'This token may not read readings (no read scope).';
    const names = Array.isArray(m.authed.commands) ? m.authed.commands.filter((n) => typeof n === 'string') : [];
    commandPanel.setAllowed(scopes.includes('command'), names);
    configPanel.setAllowed(scopes.includes('config'));
    // Back after a reconnect: the history fills what the stream missed meanwhile.
    if (deviceView.selected !== null) deviceView.show(deviceView.selected);
  } else if (m.presence) {
    model.presence(m.presence.device, m.presence.online);
  } else if (typeof m.device === 'string') {
    model.reading(m);
    deviceView.live(m);
  } else if (m.command) {
    commandPanel.update(m.command);
  } else if (m.commandResult) {
    commandPanel.update(m.commandResult);
  } else if (m.config) {
    configPanel.update(m.config);
  } else if (m.rejected) {
    model.rejected(m.rejected);
  } else if (typeof m.dropped === 'number') {
    model.dropped += m.dropped;
    toast(`${m.dropped} messages skipped: this page could not keep up`);
  } else if (m.error) {
    const code = String(m.error);
    if (!commandPanel.refused(code) && !configPanel.refused(code)) toast(`Hub says: ${code}`);
  }
  schedule();
}

function showLogin(error) {
  $('app').hidden = true;
  $('stats').hidden = true;
  $('session').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = error ?? '';
  setStatus('idle', 'Not connected');
  $('token').focus();
}

function connect(saved) {
  token = saved;
  $('login').hidden = true;
  $('app').hidden = false;
  $('stats').hidden = false;
  $('session').hidden = false;
  model.clear();
  table.clear();
  selectDevice(null);
  commandPanel.setAllowed(false, []);
  configPanel.setAllowed(false);
  client = new StreamClient(token, {
    message: onMessage,
    state(state, detail) {
      if (state === 'live') setStatus('live', 'Live');
      else if (state === 'connecting') setStatus('connecting', 'Connecting…');
      else setStatus('reconnecting', detail ?? 'Reconnecting…');
    },
    unauthorized(reason) {
      sessionStorage.removeItem(TOKEN_KEY);
      client = null;
      token = null;
      selectDevice(null);
      showLogin(`The hub refused this token (${reason}). Create a new one with fleethub token create.`);
    },
  });
  client.start();
  schedule();
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!/^fh1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    $('login-error').textContent = 'That does not look like a fleethub token (fh1.…).';
    return;
  }
  $('token').value = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  connect(token);
});

$('sign-out').addEventListener('click', () => {
  client?.stop();
  client = null;
  token = null;
  selectDevice(null);
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});

$('filter').addEventListener('input', (event) => table.setFilter(event.target.value));

// "/" jumps to the filter, Escape leaves it.
document.addEventListener('keydown', (event) => {
  const filter = $('filter');
  if (event.key === '/' && document.activeElement !== filter && !$('app').hidden && !(event.target instanceof HTMLInputElement)) {
    event.preventDefault();
    filter.focus();
  } else if (event.key === 'Escape' && document.activeElement === filter) {
    filter.blur();
  }
});

// Clocks ("last seen", msgs/s, charts scrolling) move even when no message arrives.
setInterval(schedule, 1000);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) connect(saved);
else showLogin();

// app.js: cmksim's live dashboard. A client like any other: it reads and changes resources
// through the ARM routes of the management host (this page's own origin) and Key Vault's routes
// (relayed by /_cmksim/dashboard/call, because a vault host is another origin), with the
// admin's bearer tokens from /_cmksim/dashboard/token. The timeline is the server-sent event
// stream /_cmksim/events (rt->events of `cmksim serve`). No framework.
'use strict';

const API = {
  servers: '2022-12-01', vaults: '2023-07-01', hsms: '2023-07-01', msi: '2023-01-31',
  roles: '2022-04-01', kv: '7.5',
};
// The role a server's identity needs on an RBAC vault (R4: get, list, wrapKey, unwrapKey).
const CRYPTO_SERVICE_ENCRYPTION_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';
const R4_PERMISSIONS = ['get', 'list', 'wrapKey', 'unwrapKey'];

let tokens = null;
let tokenPromise = null;
const view = {
  servers: [], vaults: [], hsms: [], deletedVaults: [], identities: [], faults: [],
  keys: {}, clock: null,
};
const remembered = { identities: {} }; // identity id -> {location} (to restore a deleted one)
let lastEventId = 0;
let source = null;

const $ = (sel) => document.querySelector(sel);
function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}
function toast(msg, info) {
  const t = $('#toast');
  t.textContent = msg;
  t.className = `toast show${info ? ' info' : ''}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = 'toast'; }, info ? 2500 : 7000);
}
function guid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- tokens and calls ----

async function getTokens(force) {
  if (tokens && !force) return tokens;
  if (!tokenPromise) {
    tokenPromise = fetch('/_cmksim/dashboard/token', { method: 'POST' })
      .then(async (r) => {
        if (!r.ok) throw new Error(`token: HTTP ${r.status} ${await r.text()}`);
        tokens = await r.json();
        return tokens;
      })
      .finally(() => { tokenPromise = null; });
  }
  return tokenPromise;
}

function errorText(status, body) {
  const e = body && body.error;
  if (e && typeof e === 'object') return `${e.code}: ${e.message} (HTTP ${status})`;
  return `HTTP ${status}`;
}

// A management call on this origin. Retries once with fresh tokens on 401 (tokens live one
// hour of the emulator's clock, which may run 600 times faster than yours).
async function arm(method, path, body, { allowMissing } = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = await getTokens(attempt > 0);
    const r = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${t.management}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (r.status === 401 && attempt === 0) continue;
    // a resource (or a whole provider not running in this cmksim) that is not there
    if (allowMissing && (r.status === 404 || (r.status === 400 && json && json.error
      && json.error.code === 'InvalidResourceNamespace'))) return undefined;
    if (r.status >= 400) throw new Error(errorText(r.status, json));
    return json;
  }
  return undefined;
}

// A Key Vault / Managed HSM call through the relay (same checks as a direct call).
async function kv(method, url, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = await getTokens(attempt > 0);
    const hsm = new URL(url).hostname.includes('.managedhsm.');
    const r = await fetch('/_cmksim/dashboard/call', {
      method: 'POST',
      headers: { 'content-type': 'application/json',
        authorization: `Bearer ${hsm ? t.hsm : t.vault}` },
      body: JSON.stringify({ method, url, body }),
    });
    const a = await r.json();
    if (a.status === 401 && attempt === 0) continue;
    if (a.status >= 400) throw new Error(errorText(a.status, a.body));
    return a.body;
  }
  return undefined;
}

const sub = () => `/subscriptions/${tokens.subscriptionId}`;
const q = (v) => `api-version=${v}`;

// ---- reading ----

async function listAll(path) {
  const out = [];
  let next = path;
  while (next) {
    const page = await arm('GET', next, undefined, { allowMissing: true });
    if (!page) break;
    out.push(...(page.value || []));
    next = page.nextLink ? new URL(page.nextLink).pathname + new URL(page.nextLink).search : null;
  }
  return out;
}

async function loadKeys(vaultUri) {
  const base = vaultUri.replace(/\/$/, '');
  try {
    const [keys, deleted] = await Promise.all([
      kv('GET', `${base}/keys?${q(API.kv)}`),
      kv('GET', `${base}/deletedkeys?${q(API.kv)}`).catch(() => ({ value: [] })),
    ]);
    const list = [];
    for (const k of (keys && keys.value) || []) {
      const name = k.kid.split('/keys/')[1].split('/')[0];
      let versions = [];
      try {
        versions = ((await kv('GET', `${base}/keys/${name}/versions?${q(API.kv)}`)) || {}).value || [];
      } catch { /* shown without versions */ }
      list.push({ name, attributes: k.attributes || {}, versions });
    }
    return { keys: list, deleted: (deleted && deleted.value) || [] };
  } catch (e) {
    return { error: e.message, keys: [], deleted: [] };
  }
}

async function refreshClock() {
  view.clock = await arm('GET', '/_cmksim/clock');
  view.clock.at = performance.now();
  renderClock();
}

let refreshing = null;
let refreshAgain = false;
async function refresh() {
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    try {
      await getTokens();
      const s = sub();
      const [servers, vaults, hsms, deletedVaults, identities, faults] = await Promise.all([
        listAll(`${s}/providers/Microsoft.DBforPostgreSQL/flexibleServers?${q(API.servers)}`),
        listAll(`${s}/providers/Microsoft.KeyVault/vaults?${q(API.vaults)}`),
        listAll(`${s}/providers/Microsoft.KeyVault/managedHSMs?${q(API.hsms)}`),
        listAll(`${s}/providers/Microsoft.KeyVault/deletedVaults?${q(API.vaults)}`),
        listAll(`${s}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?${q(API.msi)}`),
        arm('GET', '/_cmksim/faults').then((f) => f.value).catch(() => []),
      ]);
      Object.assign(view, { servers, vaults, hsms, deletedVaults, identities, faults });
      for (const i of identities) remembered.identities[i.id.toLowerCase()] = { location: i.location };
      const containers = [...vaults, ...hsms];
      const keys = await Promise.all(containers.map((v) => {
        const uri = (v.properties || {}).vaultUri || (v.properties || {}).hsmUri;
        return uri ? loadKeys(uri) : Promise.resolve({ keys: [], deleted: [] });
      }));
      view.keys = {};
      containers.forEach((v, i) => { view.keys[v.id] = keys[i]; });
      await refreshClock();
      render();
    } catch (e) {
      toast(`refresh: ${e.message}`);
    }
  })().finally(() => {
    refreshing = null;
    if (refreshAgain) { refreshAgain = false; refresh(); }
  });
  return refreshing;
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

// ---- rendering ----

const fmtTime = (s) => (s ? new Date(typeof s === 'number' ? s * 1000 : s).toISOString()
  .replace('.000Z', 'Z') : '');
const badge = (s) => `<span class="badge ${esc(s)}">${esc(s || '—')}</span>`;
const lastSeg = (id) => (id || '').split('/').filter(Boolean).pop() || '';

function parseKeyUri(uri) {
  try {
    const u = new URL(uri);
    const [, kind, name, version] = u.pathname.split('/');
    if (kind !== 'keys') return null;
    return { base: `${u.protocol}//${u.host}`, vault: u.hostname.split('.')[0], name,
      version: version || '', hsm: u.hostname.includes('.managedhsm.') };
  } catch { return null; }
}

function renderClock() {
  const c = view.clock;
  if (!c) return;
  const now = c.timeMs + (performance.now() - c.at) * c.speed;
  $('#clock-time').textContent = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  $('#clock-speed').textContent = c.speed === 0 ? 'paused' : `${c.speed}×`;
}

const MOVES = [
  ['revoke', 'Revoke access', 'danger'], ['restore', 'Restore access', 'heal'],
  ['disable-key', 'Disable key', 'danger'], ['enable-key', 'Enable key', 'heal'],
  ['delete-key', 'Delete key', 'danger'], ['recover-key', 'Recover key', 'heal'],
  ['close-firewall', 'Close firewall', 'danger'], ['open-firewall', 'Open firewall', 'heal'],
  ['delete-identity', 'Delete identity', 'danger'], ['restore-identity', 'Restore identity', 'heal'],
  ['outage', 'Vault outage', 'danger'], ['end-outage', 'End outage', 'heal'],
  ['revalidate', 'Revalidate', ''],
];

function renderServers() {
  const body = $('#servers tbody');
  body.innerHTML = view.servers.map((s) => {
    const p = s.properties || {};
    const de = p.dataEncryption || {};
    const cmk = de.type === 'AzureKeyVault';
    const key = parseKeyUri(de.primaryKeyURI || '');
    const moves = cmk ? MOVES.map(([a, label, cls]) => `<button class="${cls}" data-action="${a}"
      data-server="${esc(s.name)}">${label}</button>`).join('') : '<span class="empty">—</span>';
    return `<tr data-server-row="${esc(s.name)}">
      <td><b>${esc(s.name)}</b><div class="mono">${esc(s.id.split('/')[4])}</div></td>
      <td>${esc(s.location)}</td>
      <td data-testid="state-${esc(s.name)}">${badge(p.state)}</td>
      <td>${cmk ? 'customer key' : 'service key'}</td>
      <td class="mono">${key ? `${esc(key.vault)}/${esc(key.name)}${key.version
    ? `/${esc(key.version.slice(0, 8))}…` : ''}` : ''}</td>
      <td data-testid="keystatus-${esc(s.name)}">${cmk ? badge(de.primaryEncryptionKeyStatus) : ''}</td>
      <td class="mono">${esc(lastSeg(de.primaryUserAssignedIdentityId))}</td>
      <td>${moves}</td></tr>`;
  }).join('');
  $('#servers-empty').style.display = view.servers.length ? 'none' : '';
}

function renderVaults() {
  const containers = [...view.vaults.map((v) => ({ v, hsm: false })),
    ...view.hsms.map((v) => ({ v, hsm: true }))];
  $('#vaults').innerHTML = containers.map(({ v, hsm }) => {
    const p = v.properties || {};
    const k = view.keys[v.id] || { keys: [], deleted: [] };
    const acl = p.networkAcls || {};
    const access = hsm ? 'local RBAC' : (p.enableRbacAuthorization ? 'RBAC'
      : `access policies: ${(p.accessPolicies || []).length}`);
    const rows = k.keys.map((key) => `<tr><td class="mono">${esc(key.name)}</td>
      <td>${badge(key.attributes.enabled === false ? 'Disabled' : 'Valid')}</td>
      <td>${key.versions.length}</td><td>${esc(fmtTime(key.attributes.exp))}</td></tr>`).join('');
    const deleted = k.deleted.map((d) => `<tr><td class="mono">${esc((d.kid || '').split('/keys/')[1]
      || d.recoveryId)}</td><td>deleted ${esc(fmtTime(d.deletedDate))}</td>
      <td colspan="2">purge ${esc(fmtTime(d.scheduledPurgeDate))}</td></tr>`).join('');
    return `<div class="vault" data-vault="${esc(v.name)}">
      <div class="title"><span class="name">${esc(v.name)}</span>
        <span class="meta">${hsm ? 'managed HSM' : 'key vault'} · ${esc(v.location)} ·
        soft-delete ${esc(p.softDeleteRetentionInDays ?? 90)}d ·
        purge protection ${p.enablePurgeProtection ? 'on' : 'off'} · ${esc(access)} ·
        network ${esc(p.publicNetworkAccess === 'Disabled' ? 'public access off'
    : (acl.defaultAction || 'Allow'))}${acl.bypass ? ` (bypass ${esc(acl.bypass)})` : ''}</span></div>
      ${k.error ? `<div class="err">keys: ${esc(k.error)}</div>` : ''}
      <table><thead><tr><th>key</th><th>status</th><th>versions</th><th>expires</th></tr></thead>
      <tbody>${rows}${deleted}</tbody></table></div>`;
  }).join('') || '<p class="empty">No vaults yet.</p>';
  $('#deleted-vaults tbody').innerHTML = view.deletedVaults.map((d) => {
    const p = d.properties || {};
    return `<tr><td>${esc(d.name)}</td><td>${esc(p.location)}</td>
      <td>${esc(fmtTime(p.deletionDate))}</td><td>${esc(fmtTime(p.scheduledPurgeDate))}</td></tr>`;
  }).join('');
}

function renderIdentities() {
  $('#identities tbody').innerHTML = view.identities.map((i) => `<tr><td>${esc(i.name)}</td>
    <td>${esc(i.location)}</td><td class="mono">${esc(i.properties.principalId)}</td>
    <td class="mono">${esc(i.properties.clientId)}</td></tr>`).join('');
  $('#faults').innerHTML = view.faults.map((f) => `<li>${esc(f.kind)} of <b>${esc(f.vault)}</b>
    until ${esc(f.until)}</li>`).join('') || '<li class="empty">none</li>';
}

function render() {
  renderServers();
  renderVaults();
  renderIdentities();
  renderClock();
}

// ---- timeline ----

function summary(ev) {
  const d = ev.data || {};
  switch (ev.kind) {
    case 'server.state':
      return `${lastSeg(ev.subject)}: ${d.from} → ${d.to}${d.cause ? ` (${d.cause})` : ''}`;
    case 'server.keyStatus':
      return `${lastSeg(ev.subject)}: key ${d.status}${d.cause ? ` (${d.cause})` : ''}`;
    case 'pg.connection':
      return `${lastSeg(ev.subject)}: connection ${d.outcome}${d.sqlstate ? ` ${d.sqlstate}` : ''}${
        d.message ? ` — ${d.message}` : ''}`;
    case 'clock.advanced': return `clock +${d.by} → ${d.to}`;
    case 'clock.speed': return `clock speed ${d.from}× → ${d.to}×`;
    case 'fault.started': return `${ev.subject} unreachable until ${d.until}`;
    case 'fault.ended': return `${ev.subject} reachable again`;
    case 'activity': return `${d.operation || ''} ${d.status || ''} · ${lastSeg(ev.subject)}${
      d.caller ? ` · ${d.caller}` : ''}`;
    default: {
      const bits = Object.entries(d).slice(0, 4).map(([k, v]) => `${k}=${typeof v === 'object'
        ? JSON.stringify(v) : v}`);
      return `${lastSeg(ev.subject)} ${bits.join(' ')}`;
    }
  }
}

function tone(ev) {
  const d = ev.data || {};
  if (ev.kind === 'server.state') return d.to === 'Inaccessible' ? 'bad' : d.to === 'Ready' ? 'good' : '';
  if (ev.kind === 'pg.connection') return d.outcome === 'denied' ? 'bad' : '';
  if (/deleted|disabled|purged|fault\.started|denied|failure/i.test(ev.kind)) return 'bad';
  if (/recovered|restored|fault\.ended/i.test(ev.kind)) return 'good';
  if (ev.kind === 'server.keyStatus') return d.status === 'Valid' ? 'good' : 'bad';
  if (ev.kind === 'activity') return `activity${d.status === 'Failed' ? ' bad' : ''}`;
  return '';
}

function addEvent(ev) {
  const li = document.createElement('li');
  li.className = tone(ev);
  li.dataset.kind = ev.kind;
  const text = summary(ev);
  const short = text.length > 220 ? `${text.slice(0, 217)}…` : text;
  li.title = text;
  li.innerHTML = `<span class="t">${esc(ev.time)}</span><span><span class="k">${esc(ev.kind)}</span>
    ${esc(short)}</span>`;
  const list = $('#timeline');
  list.prepend(li);
  while (list.children.length > 300) list.lastChild.remove();
}

async function connectEvents() {
  if (source) source.close();
  const t = await getTokens(true);
  source = new EventSource(`/_cmksim/events?access_token=${encodeURIComponent(t.management)}` +
    `&since=${lastEventId}`);
  source.onopen = () => { $('#conn').textContent = 'live'; $('#conn').className = 'conn live'; };
  source.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.id <= lastEventId) return;
    lastEventId = ev.id;
    addEvent(ev);
    if (ev.kind.startsWith('clock.')) refreshClock().catch(() => {});
    refreshSoon();
  };
  source.onerror = () => {
    $('#conn').textContent = 'reconnecting…';
    $('#conn').className = 'conn';
    // The token may have expired on the emulator's clock: reconnect with a fresh one.
    source.close();
    setTimeout(() => connectEvents().catch(() => {}), 1000);
  };
}

// ---- training moves ----

function serverByName(name) { return view.servers.find((s) => s.name === name); }

function containerOf(key) {
  const list = key.hsm ? view.hsms : view.vaults;
  return list.find((v) => v.name.toLowerCase() === key.vault.toLowerCase());
}

async function identityOf(server) {
  const id = server.properties.dataEncryption.primaryUserAssignedIdentityId;
  return arm('GET', `${id}?${q(API.msi)}`, undefined, { allowMissing: true });
}

async function grant(server, restore) {
  const key = parseKeyUri(server.properties.dataEncryption.primaryKeyURI);
  const vault = containerOf(key);
  if (!vault) throw new Error(`vault ${key.vault} not found`);
  const ident = await identityOf(server);
  if (!ident) throw new Error('the server\'s identity does not exist (restore it first)');
  const pid = ident.properties.principalId;
  if (vault.properties.enableRbacAuthorization) {
    const scope = vault.id;
    if (restore) {
      await arm('PUT', `${scope}/providers/Microsoft.Authorization/roleAssignments/${guid()}?${q(API.roles)}`, {
        properties: {
          roleDefinitionId: `${sub()}/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_SERVICE_ENCRYPTION_USER}`,
          principalId: pid, principalType: 'ServicePrincipal',
        },
      });
    } else {
      const filter = encodeURIComponent(`principalId eq '${pid}'`);
      const list = await arm('GET', `${scope}/providers/Microsoft.Authorization/roleAssignments?$filter=${filter}&${q(API.roles)}`);
      for (const ra of (list && list.value) || []) {
        if (ra.properties.scope && ra.properties.scope.toLowerCase() !== scope.toLowerCase()) continue;
        await arm('DELETE', `${ra.id}?${q(API.roles)}`);
      }
    }
    return;
  }
  let permissions = { keys: R4_PERMISSIONS };
  if (!restore) {
    // "remove" takes away the permissions it lists: list every one the identity holds.
    const cur = await arm('GET', `${vault.id}?${q(API.vaults)}`);
    const entry = (cur.properties.accessPolicies || []).find((p) => p.objectId === pid);
    if (!entry) return;
    permissions = entry.permissions;
  }
  await arm('PUT', `${vault.id}/accessPolicies/${restore ? 'add' : 'remove'}?${q(API.vaults)}`, {
    properties: { accessPolicies: [{ tenantId: vault.properties.tenantId, objectId: pid,
      permissions }] },
  });
}

async function move(action, name) {
  const server = serverByName(name);
  const de = server.properties.dataEncryption;
  const key = parseKeyUri(de.primaryKeyURI);
  const keyPath = `${key.base}/keys/${key.name}${key.version ? `/${key.version}` : ''}`;
  const vault = containerOf(key);
  switch (action) {
    case 'revoke': return grant(server, false);
    case 'restore': return grant(server, true);
    case 'disable-key':
    case 'enable-key':
      return kv('PATCH', `${keyPath}?${q(API.kv)}`, { attributes: { enabled: action === 'enable-key' } });
    case 'delete-key': return kv('DELETE', `${key.base}/keys/${key.name}?${q(API.kv)}`);
    case 'recover-key': return kv('POST', `${key.base}/deletedkeys/${key.name}/recover?${q(API.kv)}`);
    case 'close-firewall':
    case 'open-firewall': {
      if (!vault) throw new Error(`vault ${key.vault} not found`);
      const close = action === 'close-firewall';
      return arm('PATCH', `${vault.id}?${q(key.hsm ? API.hsms : API.vaults)}`, {
        properties: { networkAcls: close
          ? { defaultAction: 'Deny', bypass: 'None', ipRules: [], virtualNetworkRules: [] }
          : { defaultAction: 'Allow', bypass: 'AzureServices', ipRules: [], virtualNetworkRules: [] } },
      });
    }
    case 'delete-identity': {
      const id = de.primaryUserAssignedIdentityId;
      const cur = await arm('GET', `${id}?${q(API.msi)}`, undefined, { allowMissing: true });
      if (cur) remembered.identities[id.toLowerCase()] = { location: cur.location };
      return arm('DELETE', `${id}?${q(API.msi)}`);
    }
    case 'restore-identity': {
      const id = de.primaryUserAssignedIdentityId;
      const known = remembered.identities[id.toLowerCase()] || { location: server.location };
      await arm('PUT', `${id}?${q(API.msi)}`, { location: known.location });
      return grant(server, true); // a new identity is a new principal: grant it again
    }
    case 'outage':
      return arm('POST', '/_cmksim/faults', { kind: 'vault-outage', vault: key.vault, for: '2h' });
    case 'end-outage':
      return arm('DELETE', `/_cmksim/faults/vault-outage/${encodeURIComponent(key.vault)}`);
    case 'revalidate':
      return arm('POST', `${server.id}/revalidateDataEncryption?${q(API.servers)}`);
    default:
      throw new Error(`unknown move ${action}`);
  }
}

document.addEventListener('click', async (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  b.disabled = true;
  try {
    if (b.dataset.action) {
      await move(b.dataset.action, b.dataset.server);
      toast(`${b.textContent.trim()}: done`, true);
    } else if (b.dataset.clock === 'advance') {
      await arm('POST', '/_cmksim/clock/advance', { duration: b.dataset.by });
    } else if (b.dataset.clock === 'speed') {
      await arm('POST', '/_cmksim/clock/speed', { speed: Number(b.dataset.speed) });
    }
    await refreshClock();
    refreshSoon();
  } catch (err) {
    toast(`${b.textContent.trim()}: ${err.message}`);
  } finally {
    b.disabled = false;
  }
});

// ---- start ----

(async () => {
  try {
    await getTokens();
    await refresh();
    await connectEvents();
  } catch (e) {
    toast(e.message);
  }
  setInterval(renderClock, 250);
  setInterval(refresh, 4000);
})();

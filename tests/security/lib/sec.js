// sec.js: what the security matrix needs besides tests/clients/lib: forged tokens (another
// signing key, alg none, HS256 with the public key, edited claims), a bounded-concurrency
// runner for thousands of raw requests, raw TLS and TCP for what node's https refuses to send
// (oversized heads, CONNECT), the server restart around sec_seed, and the secret scan.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { spawn, execFileSync } = require('node:child_process');

const c = require(path.join(__dirname, '..', '..', 'clients', 'lib', 'cmksim'));

const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const parts = (tok) => tok.split('.');
const header = (tok) => JSON.parse(Buffer.from(parts(tok)[0], 'base64url'));
const claims = (tok) => JSON.parse(Buffer.from(parts(tok)[1], 'base64url'));

const foreignKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

// The same header and claims, signed by a key the login service never had.
function signedByOtherKey(tok) {
  const [h, p] = parts(tok);
  const sig = crypto.sign('sha256', Buffer.from(`${h}.${p}`), foreignKey);
  return `${h}.${p}.${sig.toString('base64url')}`;
}

// A token with its own claims, signed by the other key, with a fresh exp (the attacker's choice).
function forgedFresh(tok) {
  const cl = { ...claims(tok), exp: Math.floor(Date.now() / 1000) + 86400 * 365 * 20 };
  const h = parts(tok)[0];
  const p = b64u(cl);
  const sig = crypto.sign('sha256', Buffer.from(`${h}.${p}`), foreignKey);
  return `${h}.${p}.${sig.toString('base64url')}`;
}

function algNone(tok, alg = 'none', withSig = false) {
  const h = { ...header(tok), alg };
  const [, p, s] = parts(tok);
  return `${b64u(h)}.${p}.${withSig ? s : ''}`;
}

// HS256 keyed with the service's public key (PEM): the classic algorithm-confusion forgery.
function hsWithPublicKey(tok, publicPem) {
  const h = b64u({ ...header(tok), alg: 'HS256' });
  const p = parts(tok)[1];
  const mac = crypto.createHmac('sha256', publicPem).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${mac}`;
}

// Another principal's claims under this token's header and signature.
function claimsSwapped(tok, other) {
  const [h, , s] = parts(tok);
  return `${h}.${parts(other)[1]}.${s}`;
}

// Run fn over items with at most `limit` in flight; results in order.
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// Raw bytes to the HTTPS listener with SNI `host`; resolves with what came back before the
// server closed the connection or `ms` passed.
function rawTls(host, bytes, ms = 3000) {
  return new Promise((resolve) => {
    const chunks = [];
    const s = tls.connect({ host: '127.0.0.1', port: Number(c.serveInfo().https.split(':').pop()),
      servername: host, ca: c.ca });
    const done = () => { clearTimeout(t); s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const t = setTimeout(done, ms);
    s.on('secureConnect', () => {
      const list = Array.isArray(bytes) ? bytes : [bytes];
      for (const b of list) s.write(b);
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', done);
    s.on('close', done);
  });
}

// Raw bytes to the CONNECT proxy (plain TCP).
function rawProxy(bytes, ms = 3000) {
  return new Promise((resolve) => {
    const chunks = [];
    const [h, p] = c.serveInfo().proxy.split(':');
    const s = net.connect({ host: h, port: Number(p) });
    const done = () => { clearTimeout(t); s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const t = setTimeout(done, ms);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d) => chunks.push(d));
    s.on('error', done);
    s.on('close', done);
  });
}

// A request with a body of raw bytes (c.request only sends strings and JSON).
function rawRequest(method, url, { token, body, headers = {} } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = require('node:https').request({ host: '127.0.0.1', port: Number(c.serveInfo().https.split(':').pop()),
      servername: u.hostname, method, path: u.pathname + u.search, agent: c.agent,
      headers: { host: u.host, 'content-type': 'application/json', 'content-length': body.length,
        ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = text; }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
      });
    });
    r.on('error', reject);
    r.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Stop the running serve (SIGTERM, then wait), run fn() on the quiet state directory, start it
// again with the same arguments (ports included) and wait for serve.json.
async function withServerStopped(fn) {
  const pid = c.serveInfo().pid;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 400; i++) {
    try { process.kill(pid, 0); } catch { break; }
    await sleep(25);
  }
  fs.rmSync(path.join(c.data, 'serve.json'), { force: true });
  const result = await fn();
  const log = fs.openSync(path.join(c.data, 'serve.log'), 'a');
  const child = spawn(process.env.CMKSIM_BIN,
    ['serve', ...process.env.CMKSIM_SERVE_ARGS.split(' ').filter(Boolean)],
    { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  for (let i = 0; i < 1200; i++) {
    if (fs.existsSync(path.join(c.data, 'serve.json'))) return result;
    await sleep(25);
  }
  throw new Error('cmksim serve did not come back');
}

function seedTenant(tenantId, subscriptionId, secret) {
  const out = execFileSync(process.env.SEC_SEED, [c.data, tenantId, subscriptionId, secret],
    { encoding: 'utf8' });
  return JSON.parse(out);
}

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { out.push({ path: p, dir: true }); walk(p, out); } else if (e.isFile()) out.push({ path: p, dir: false });
  }
  return out;
}

// The encodings a secret could be written in: raw, hex (both cases), base64 and base64url at
// each of the three alignments it can have inside a longer encoded text (only the characters
// that depend on the secret alone are kept).
function encodings(buf) {
  const out = [buf, Buffer.from(buf.toString('hex')), Buffer.from(buf.toString('hex').toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), buf]);
    for (const enc of ['base64', 'base64url']) {
      const e = padded.toString(enc);
      out.push(Buffer.from(e.slice(shift ? 4 : 0, -4)));
    }
  }
  return out;
}

// [{where, what}] for every needle found in any buffer of `haystacks` ({name, data}).
function findSecrets(haystacks, secrets) {
  const hits = [];
  for (const { name, data } of haystacks) {
    for (const { what, bytes } of secrets) {
      for (const n of encodings(bytes)) {
        if (n.length >= 12 && data.includes(n)) { hits.push({ where: name, what }); break; }
      }
    }
  }
  return hits;
}

module.exports = { c, b64u, header, claims, signedByOtherKey, forgedFresh, algNone,
  hsWithPublicKey, claimsSwapped, pool, rawTls, rawProxy, rawRequest, sleep, withServerStopped, seedTenant,
  walk, encodings, findSecrets };

// azure.js: the real Azure SDK clients the conformance suites use, built exactly as an
// application would build them against the cloud (default authority, default endpoints, real
// host names; the only emulator-specific settings are the environment variables with-serve
// exports: HTTPS_PROXY, NODE_EXTRA_CA_CERTS, AZURE_*, IDENTITY_*), plus small assertion helpers.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { ClientSecretCredential } = require('@azure/identity');
const c = require('./cmksim');

function adminCredential() {
  return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret);
}

// A name unique within one run (vault names are global in Azure and in cmksim).
let seq = 0;
function uniqueName(prefix) {
  seq += 1;
  return `${prefix}${process.pid.toString(36)}${seq}`.toLowerCase().slice(0, 24);
}

// await rejects(promise, {statusCode: 404, code: 'ResourceNotFound', message: /not found/})
// -> the error, after checking each given field (message may be a RegExp or a substring).
async function rejects(promise, want) {
  let got;
  try {
    await promise;
  } catch (e) {
    got = e;
  }
  assert.ok(got, `expected a rejection with ${JSON.stringify(want, (k, v) => (v instanceof RegExp ? String(v) : v))}`);
  for (const [k, v] of Object.entries(want)) {
    if (v instanceof RegExp) assert.match(String(got[k]), v, `${k} of ${got.name}: ${got.message}`);
    else assert.equal(got[k], v, `${k} of ${got.name}: ${got.message}`);
  }
  return got;
}

// All pages of a PagedAsyncIterableIterator as an array.
async function all(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}

function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

const mgmt = 'https://management.azure.com';

// Does this cmksim serve the resource provider namespace, or 'Namespace/type' (is the service
// wired into tools/cli/services.c)? Asked once each.
const wired = new Map();
function providerWired(what) {
  if (!wired.has(what)) {
    wired.set(what, (async () => {
      const [ns, type] = what.split('/');
      const token = (await adminCredential().getToken('https://management.azure.com/.default')).token;
      const r = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/providers/${ns}?api-version=2021-04-01`, { token });
      if (r.status !== 200) return false;
      return !type || (r.body.resourceTypes ?? []).some((t) => t.resourceType.toLowerCase() === type.toLowerCase());
    })());
  }
  return wired.get(what);
}

// const test = gated('Microsoft.KeyVault', 'vaultsim'): test(name, fn) and test.before(fn) run
// only when the service is wired; otherwise each test is reported as skipped with the reason.
function gated(ns, service) {
  const why = `${service} is not wired into cmksim serve yet (tools/cli/services.c)`;
  const t = (name, fn) => test(name, async (ctx) => {
    if (!(await providerWired(ns))) return ctx.skip(why);
    return fn(ctx);
  });
  t.before = (fn) => test.before(async () => {
    if (await providerWired(ns)) await fn();
  });
  return t;
}

// A node-postgres client for an emulated server: the shared PostgreSQL port of `cmksim serve`,
// routed by TLS SNI (NAME.postgres.database.azure.com), verified against the emulator's CA.
function pgClient(server, { user = 'pgadmin', password = 'Sandbox-Passw0rd!', database = 'postgres' } = {}) {
  const { Client } = require('pg');
  const port = Number(c.serveInfo().postgres.split(':').pop());
  return new Client({ host: '127.0.0.1', port, user, password, database,
    ssl: { ca: c.ca, servername: `${server}.postgres.database.azure.com` } });
}

// R10: a login to a server that lost its key is refused with FATAL 57P03 naming the cause.
async function loginRefused(server) {
  const cl = pgClient(server);
  cl.on('error', () => {});
  const e = await rejects(cl.connect(), { code: '57P03', severity: 'FATAL' });
  await cl.end().catch(() => {});
  return e;
}

module.exports = { pgClient, loginRefused, adminCredential, uniqueName, rejects, all, jwtClaims, mgmt, providerWired, gated };

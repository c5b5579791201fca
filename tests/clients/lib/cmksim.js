// cmksim.js: what the client tests share: the running emulator's description (serve.json),
// credentials for the real Azure SDKs, a raw HTTPS helper that reaches any cmksim host by name
// (SNI + Host, like curl --resolve), and kill -9 + restart of the same `cmksim serve`.
// Tests run under tests/clients/with-serve, which starts the server and exports the env.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const { spawn } = require('node:child_process');

const data = process.env.CMKSIM_DATA;
if (!data) throw new Error('run this test under tests/clients/with-serve');

function serveInfo() {
  return JSON.parse(fs.readFileSync(path.join(data, 'serve.json'), 'utf8'));
}

const info = serveInfo();
const ca = fs.readFileSync(info.ca);
const httpsPort = Number(info.https.split(':').pop());
const tenantId = process.env.AZURE_TENANT_ID;
const subscriptionId = process.env.AZURE_SUBSCRIPTION_ID;
const clientId = process.env.AZURE_CLIENT_ID;
const clientSecret = process.env.AZURE_CLIENT_SECRET;

const agent = new https.Agent({ keepAlive: true, ca });

// request('POST', 'https://kv.vault.azure.net/keys/k/create?api-version=7.5', {token, body})
// -> {status, headers, body (parsed JSON when possible), text}
function request(method, url, { token, body, headers = {} } = {}) {
  const u = new URL(url);
  const payload = body === undefined ? undefined
    : (typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: httpsPort, servername: u.hostname, method,
      path: u.pathname + u.search, agent,
      headers: {
        host: u.host,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload) } : {}),
        ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// A token from the emulated login service with the client-credentials flow.
async function token(scope, { tenant = tenantId, id = clientId, secret = clientSecret } = {}) {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: id,
    client_secret: secret, scope }).toString();
  const r = await request('POST', `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`,
    { body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.text}`);
  return r.body.access_token;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// kill -9 the running server, start it again on the same state directory and ports.
async function restartHard() {
  const old = serveInfo().pid;
  process.kill(old, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try { process.kill(old, 0); } catch { break; }
    await sleep(20);
  }
  fs.rmSync(path.join(data, 'serve.json'), { force: true });
  const child = spawn(process.env.CMKSIM_BIN, ['serve', ...process.env.CMKSIM_SERVE_ARGS.split(' ').filter(Boolean)], {
    detached: true, stdio: ['ignore', fs.openSync(path.join(data, 'serve.log'), 'a'),
      fs.openSync(path.join(data, 'serve.log'), 'a')],
  });
  child.unref();
  fs.appendFileSync(path.join(data, 'serve.pids'), `${child.pid}\n`); // with-serve stops it
  for (let i = 0; i < 1200; i++) {
    if (fs.existsSync(path.join(data, 'serve.json'))) return serveInfo();
    await sleep(25);
  }
  throw new Error('cmksim serve did not come back after restart');
}

module.exports = { info, ca, data, request, token, tenantId, subscriptionId, clientId,
  clientSecret, restartHard, serveInfo, sleep, agent };

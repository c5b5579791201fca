// smoke.test.js: the emulator answers over HTTPS by name, through the CONNECT proxy with the
// cloud's own host names, and refuses to proxy anywhere else.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const tls = require('node:tls');
const { info, ca, request } = require('./lib/cmksim');

test('health answers on the management host', async () => {
  const r = await request('GET', 'https://management.azure.com/_cmksim/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
});

function connect(host, port) {
  const [phost, pport] = info.proxy.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: phost, port: Number(pport), method: 'CONNECT',
      path: `${host}:${port}` });
    req.on('connect', (res, socket) => resolve({ res, socket }));
    req.on('response', (res) => resolve({ res }));
    req.on('error', reject);
    req.end();
  });
}

test('CONNECT to management.azure.com reaches cmksim with SNI intact', async () => {
  const { res, socket } = await connect('management.azure.com', 443);
  assert.equal(res.statusCode, 200);
  const s = tls.connect({ socket, servername: 'management.azure.com', ca });
  await new Promise((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
  assert.ok(s.authorized, 'certificate chain verifies against the emulator CA');
  assert.match(s.getPeerCertificate().subjectaltname, /management\.azure\.com/);
  s.end();
});

test('CONNECT to a host cmksim does not serve is refused', async () => {
  const { res, socket } = await connect('example.com', 443);
  assert.equal(res.statusCode, 403);
  if (socket) socket.destroy();
});

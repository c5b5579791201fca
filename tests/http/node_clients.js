// node_clients.js TLS_PORT PROXY_PORT CA: node's own https against cmksim's HTTP server.
// Keep-alive (a second request reuses the socket), SNI for two host families, a CONNECT
// tunnel through the proxy to a real cloud name, and a refused CONNECT. Exit 1 on failure.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const tls = require('tls');

const [tlsPort, proxyPort, caPath] = process.argv.slice(2);
const ca = fs.readFileSync(caPath);
let failures = 0;

function check(name, cond, detail) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} node: ${name}${cond ? '' : ' ' + JSON.stringify(detail)}`);
  if (!cond) failures++;
}

// Every cloud name resolves to the test server, as with a hosts-file line.
function lookup(host, opts, cb) {
  if (opts && opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}

function request(mod, options) {
  return new Promise((resolve, reject) => {
    const req = mod.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function connect(host) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: host,
                               headers: { Host: host } });
    req.on('connect', (res, socket, head) => resolve({ res, socket, head }));
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  const base = { port: tlsPort, agent, lookup };

  const r1 = await request(https, { ...base, host: 'management.azure.com', path: '/health' });
  check('GET /health over TLS', r1.status === 200 && JSON.parse(r1.body).status === 'ok', r1);
  check('Date header present', typeof r1.headers.date === 'string', r1.headers);
  const r2 = await request(https, { ...base, host: 'management.azure.com', path: '/health' });
  check('keep-alive: second request reuses the socket', r2.status === 200 && r2.reused === true, r2.reused);

  const r3 = await request(https, { ...base, host: 'x.vault.azure.net', path: '/keys/k1' });
  check('SNI x.vault.azure.net: vault leaf verifies, vault route answers',
        r3.status === 200 && JSON.parse(r3.body).vault === 'x', r3);
  const r4 = await request(https, { ...base, host: 'x.vault.azure.net', path: '/json', method: 'POST',
                                     headers: { 'Content-Type': 'application/json' }, body: '{"a":' });
  check('malformed JSON body: 400 envelope', r4.status === 400 &&
        JSON.parse(r4.body).error.code === 'BadParameter', r4);
  agent.destroy();

  // CONNECT tunnel to a real cloud name; SNI and Host pass through unchanged.
  const t = await connect('myvault.vault.azure.net:443');
  check('CONNECT myvault.vault.azure.net:443 -> 200', t.res.statusCode === 200, t.res.statusCode);
  const sock = tls.connect({ socket: t.socket, servername: 'myvault.vault.azure.net', ca });
  const r5 = await request(http, { createConnection: () => sock, host: 'myvault.vault.azure.net',
                                    path: '/keys/k9' });
  check('request through the tunnel', r5.status === 200 && JSON.parse(r5.body).vault === 'myvault' &&
        JSON.parse(r5.body).key === 'k9', r5);
  sock.destroy();

  const bad = await connect('example.com:443');
  check('CONNECT example.com:443 -> 403', bad.res.statusCode === 403, bad.res.statusCode);
  bad.socket.destroy();
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  console.log('FAIL node:', e && e.stack || e);
  process.exit(1);
});

// pages.js: the encrypting VFS's page format read from JavaScript, to prove what a DEK opens
// (dataplane/README.md "Format on disk"): a page of P bytes is AES-256-GCM ciphertext, then a
// 12-byte nonce and a 16-byte tag; associated data "cmkenc1", the file kind, the DEK id and the
// page number (page 1 also binds its 100 clear header bytes, so it is left out here).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');

const RESERVE = 28;

function pageSize(file) {
  const h = Buffer.alloc(100);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, h, 0, 100, 0);
  fs.closeSync(fd);
  const p = h.readUInt16BE(16);
  return p === 1 ? 65536 : p;
}

function aad(dekId, pgno) {
  const a = Buffer.alloc(64);
  a.write('cmkenc1', 0, 'latin1');
  a[7] = 'D'.charCodeAt(0);
  a.write(dekId, 8, 'latin1');
  a.writeUInt32BE(pgno, 40);
  return a;
}

// Decrypt page pgno (>= 2) of a database file with dek; throws when it does not authenticate.
function openPage(file, pgno, dek, dekId) {
  const p = pageSize(file);
  const buf = Buffer.alloc(p);
  const fd = fs.openSync(file, 'r');
  const n = fs.readSync(fd, buf, 0, p, (pgno - 1) * p);
  fs.closeSync(fd);
  if (n !== p) throw new Error(`page ${pgno} is beyond the end of ${file}`);
  const d = crypto.createDecipheriv('aes-256-gcm', dek, buf.subarray(p - RESERVE, p - 16));
  d.setAAD(aad(dekId, pgno));
  d.setAuthTag(buf.subarray(p - 16));
  return Buffer.concat([d.update(buf.subarray(0, p - RESERVE)), d.final()]);
}

// Every page (>= 2) of the file opened with dek, concatenated.
function openAll(file, dek, dekId) {
  const p = pageSize(file);
  const pages = Math.floor(fs.statSync(file).size / p);
  const out = [];
  for (let i = 2; i <= pages; i++) out.push(openPage(file, i, dek, dekId));
  return Buffer.concat(out);
}

module.exports = { pageSize, openPage, openAll };

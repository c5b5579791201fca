// arm.test.js: the ARM core (issue 5, "ARM core") as @azure/arm-resources and raw clients see it
// on management.azure.com: tenants, subscriptions, locations, providers, resource groups (tags,
// filters, long-running delete that takes its resources along), generic resources (list,
// filters, get/delete by id with the "//subscriptions" path the SDK sends), the api-versions
// az sends, and the activity log.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { ResourceManagementClient } = require('@azure/arm-resources');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const c = require('./lib/cmksim');
const { adminCredential, rejects, all, mgmt } = require('./lib/azure');

const cred = adminCredential();
const rm = new ResourceManagementClient(cred, c.subscriptionId);
const msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
const sub = `/subscriptions/${c.subscriptionId}`;
const rg = 'rg-arm';
const MI = 'Microsoft.ManagedIdentity/userAssignedIdentities';
let token;

test.before(async () => {
  token = (await cred.getToken('https://management.azure.com/.default')).token;
});

test('tenants, subscriptions, locations (az api-versions)', async () => {
  let r = await c.request('GET', `${mgmt}/tenants?api-version=2022-12-01`, { token });
  assert.equal(r.status, 200);
  assert.ok(r.body.value.some((t) => t.tenantId === c.tenantId));
  r = await c.request('GET', `${mgmt}/subscriptions?api-version=2019-11-01`, { token });
  assert.equal(r.status, 200);
  const s = r.body.value.find((x) => x.subscriptionId === c.subscriptionId);
  assert.ok(s);
  assert.equal(s.id, sub);
  assert.equal(s.state, 'Enabled');
  assert.equal(s.tenantId, c.tenantId);
  r = await c.request('GET', `${mgmt}${sub}/locations?api-version=2022-12-01`, { token });
  assert.equal(r.status, 200);
  assert.ok(r.body.value.some((l) => l.name === 'westeurope'));
  r = await c.request('GET', `${mgmt}/subscriptions/99999999-9999-4999-8999-999999999999?api-version=2022-12-01`, { token });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'SubscriptionNotFound');
});

test('providers: get, list, register', async () => {
  const p = await rm.providers.get('Microsoft.ManagedIdentity');
  assert.equal(p.namespace, 'Microsoft.ManagedIdentity');
  assert.equal(p.registrationState, 'Registered');
  assert.ok(p.resourceTypes.some((t) => t.resourceType === 'userAssignedIdentities'));
  const list = (await all(rm.providers.list())).map((x) => x.namespace);
  assert.ok(list.includes('Microsoft.ManagedIdentity'));
  assert.equal((await rm.providers.register('Microsoft.ManagedIdentity')).registrationState, 'Registered');
  await rejects(rm.providers.get('Microsoft.Nope'), { statusCode: 404, code: 'InvalidResourceNamespace' });
});

test('resource groups: create, update tags, list with a tag filter, get, 404', async () => {
  const g = await rm.resourceGroups.createOrUpdate(rg, { location: 'westeurope', tags: { team: 'a' } });
  assert.equal(g.id, `${sub}/resourceGroups/${rg}`);
  const again = await rm.resourceGroups.createOrUpdate(rg, { location: 'westeurope', tags: { team: 'a' } });
  assert.equal(again.id, g.id, 'PUT is idempotent');
  await rejects(rm.resourceGroups.createOrUpdate(rg, { location: 'northeurope' }),
    { statusCode: 409, code: 'InvalidResourceGroupLocation' });
  const u = await rm.resourceGroups.update(rg, { tags: { team: 'b', env: 'test' } });
  assert.deepEqual(u.tags, { team: 'b', env: 'test' });
  const filtered = await all(rm.resourceGroups.list({ filter: "tagName eq 'team' and tagValue eq 'b'" }));
  assert.deepEqual(filtered.map((x) => x.name), [rg]);
  assert.equal((await rm.resourceGroups.get(rg.toUpperCase())).name, rg, 'names are case-insensitive');
  await rejects(rm.resourceGroups.createOrUpdate('bad name!', { location: 'westeurope' }), { statusCode: 400 });
});

test('generic resources: list by group and subscription, filters, get/delete by id ("//" path)', async () => {
  const mi = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-arm', { location: 'westeurope', tags: { k: 'v' } });
  await msi.userAssignedIdentities.createOrUpdate(rg, 'id-arm2', { location: 'westeurope' });
  const inRg = (await all(rm.resources.listByResourceGroup(rg))).map((x) => x.name).sort();
  assert.deepEqual(inRg, ['id-arm', 'id-arm2']);
  const byType = await all(rm.resources.list({ filter: `resourceType eq '${MI}'` }));
  assert.ok(byType.every((x) => x.type === MI) && byType.length >= 2);
  const byTag = await all(rm.resources.list({ filter: "tagName eq 'k' and tagValue eq 'v'" }));
  assert.deepEqual(byTag.map((x) => x.name), ['id-arm']);

  const got = await rm.resources.getById(mi.id, '2023-01-31');
  assert.equal(got.id, mi.id);
  assert.equal(got.properties.clientId, mi.clientId);
  const same = await rm.resources.get(rg, 'Microsoft.ManagedIdentity', '', 'userAssignedIdentities', 'id-arm', '2023-01-31');
  assert.equal(same.id, mi.id);
  assert.equal((await rm.resources.checkExistenceById(mi.id, '2023-01-31')).body, true);
  await rm.resources.beginDeleteByIdAndWait(mi.id, '2023-01-31', { updateIntervalInMs: 50 });
  assert.equal((await rm.resources.checkExistenceById(mi.id, '2023-01-31')).body, false);
  await rejects(rm.resources.getById(mi.id, '2023-01-31'), { statusCode: 404, code: 'ResourceNotFound' });
  // the az CLI's generic list (api-version 2015-11-01)
  const r = await c.request('GET', `${mgmt}${sub}/resources?api-version=2015-11-01&$filter=${encodeURIComponent(`resourceType eq '${MI}'`)}`, { token });
  assert.equal(r.status, 200);
  assert.ok(r.body.value.some((x) => x.name === 'id-arm2'));
});

test('deleting a resource group (LRO) deletes what it holds; the activity log has it', async () => {
  const poller = await rm.resourceGroups.beginDelete(rg, { updateIntervalInMs: 50 });
  await poller.pollUntilDone();
  await rejects(rm.resourceGroups.get(rg), { statusCode: 404, code: 'ResourceGroupNotFound' });
  await rejects(msi.userAssignedIdentities.get(rg, 'id-arm2'), { statusCode: 404, code: 'ResourceGroupNotFound' });
  assert.ok(!(await all(msi.userAssignedIdentities.listBySubscription())).some((x) => x.name === 'id-arm2'));
  await rejects(rm.resourceGroups.beginDeleteAndWait(rg, { updateIntervalInMs: 50 }), { statusCode: 404 });

  const since = new Date(Date.now() - 3600000).toISOString();
  const log = await c.request('GET', `${mgmt}${sub}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${encodeURIComponent(`eventTimestamp ge '${since}'`)}`,
    { token });
  assert.equal(log.status, 200, log.text);
  const ops = log.body.value.filter((e) => (e.resourceId ?? '').toLowerCase().includes(`/resourcegroups/${rg}`));
  assert.ok(ops.some((e) => /resourceGroups\/delete|resourcegroups\/delete/i.test(e.operationName?.value ?? '')),
    ops.map((e) => e.operationName?.value).join(', '));
  assert.ok(ops.some((e) => (e.operationName?.value ?? '').startsWith(`${MI}/write`)));
  for (const e of ops) {
    assert.ok(e.eventTimestamp && e.status?.value && e.caller, JSON.stringify(e).slice(0, 200));
  }
});

// identity.test.js: the identity service as the real @azure/identity, @azure/arm-msi and
// @azure/arm-resources see it (issue 3, "Identity"): ClientSecretCredential with its default
// authority (login.microsoftonline.com through cmksim's proxy), Entra's refusals, user-assigned
// managed identities as ARM resources, ManagedIdentityCredential on the App Service-style
// endpoint, and what deleting an identity does to its tokens.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } = require('@azure/identity');
const { ManagedServiceIdentityClient } = require('@azure/arm-msi');
const { ResourceManagementClient } = require('@azure/arm-resources');
const c = require('./lib/cmksim');
const { adminCredential, rejects, all, jwtClaims, mgmt } = require('./lib/azure');

const cred = adminCredential();
const msi = new ManagedServiceIdentityClient(cred, c.subscriptionId);
const rm = new ResourceManagementClient(cred, c.subscriptionId);
const rg = 'rg-identity';
const MI_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

test('ClientSecretCredential with the default authority gets management and vault tokens', async () => {
  const t = await cred.getToken('https://management.azure.com/.default');
  assert.ok(t.expiresOnTimestamp > Date.now() + 50 * 60 * 1000, 'about an hour of validity');
  const m = jwtClaims(t.token);
  assert.equal(m.aud, 'https://management.azure.com');
  assert.equal(m.tid, c.tenantId);
  assert.equal(m.appid, c.clientId);
  assert.equal(m.iss, `https://sts.windows.net/${c.tenantId}/`);
  assert.equal(m.idtyp, 'app');
  const v = jwtClaims((await cred.getToken('https://vault.azure.net/.default')).token);
  assert.equal(v.aud, 'https://vault.azure.net');
  assert.equal(v.oid, m.oid);
  assert.ok(v.nbf <= v.iat && v.exp - v.iat === 3600);
});

test('DefaultAzureCredential picks the environment (AZURE_CLIENT_ID/SECRET/TENANT_ID)', async () => {
  const t = await new DefaultAzureCredential().getToken('https://vault.azure.net/.default');
  const v = jwtClaims(t.token);
  assert.equal(v.appid, c.clientId);
  assert.equal(v.tid, c.tenantId);
});

test('tokens verify against the JWKS the OpenID metadata names', async () => {
  const meta = await c.request('GET',
    `https://login.microsoftonline.com/${c.tenantId}/v2.0/.well-known/openid-configuration`);
  assert.equal(meta.status, 200);
  assert.equal(meta.body.token_endpoint,
    `https://login.microsoftonline.com/${c.tenantId}/oauth2/v2.0/token`);
  const jwks = await c.request('GET', meta.body.jwks_uri);
  assert.equal(jwks.status, 200);
  const { token } = await cred.getToken('https://vault.azure.net/.default');
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'RS256');
  const jwk = jwks.body.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'the signing key is published');
  const key = crypto.createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')));
});

test('a wrong secret is refused with AADSTS7000215', async () => {
  const bad = new ClientSecretCredential(c.tenantId, c.clientId, 'not-the-secret');
  const e = await rejects(bad.getToken('https://management.azure.com/.default'),
    { name: 'AuthenticationRequiredError' });
  assert.match(e.message, /invalid_client/);
  assert.match(e.message, /AADSTS7000215: Invalid client secret provided/);
});

test('an unknown tenant is refused with AADSTS90002', async () => {
  const bad = new ClientSecretCredential('22222222-2222-2222-2222-222222222222', c.clientId,
    c.clientSecret);
  const e = await rejects(bad.getToken('https://vault.azure.net/.default'),
    { name: 'AuthenticationRequiredError' });
  assert.match(e.message, /AADSTS90002: Tenant '22222222-2222-2222-2222-222222222222' not found/);
});

test('an unknown client id is refused with AADSTS700016', async () => {
  const bad = new ClientSecretCredential(c.tenantId, '33333333-3333-3333-3333-333333333333',
    c.clientSecret);
  const e = await rejects(bad.getToken('https://vault.azure.net/.default'),
    { name: 'AuthenticationRequiredError' });
  assert.match(e.message, /AADSTS700016/);
});

test('ARM refuses a request without a token, with another audience, or a forged one', async () => {
  const url = `${mgmt}/subscriptions/${c.subscriptionId}/resourcegroups?api-version=2021-04-01`;
  let r = await c.request('GET', url);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'AuthenticationFailed');
  assert.match(r.headers['www-authenticate'], /^Bearer authorization_uri="https:\/\/login\.microsoftonline\.com\//);
  r = await c.request('GET', url, { token: await c.token('https://vault.azure.net/.default') });
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'InvalidAuthenticationTokenAudience');
  const { token } = await cred.getToken('https://management.azure.com/.default');
  const [h, p] = token.split('.');
  r = await c.request('GET', url, { token: `${h}.${p}.${Buffer.from('forged').toString('base64url')}` });
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'InvalidAuthenticationToken');
});

test('resource groups with @azure/arm-resources', async () => {
  const g = await rm.resourceGroups.createOrUpdate(rg, { location: 'westeurope', tags: { t: '1' } });
  assert.equal(g.id, `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}`);
  assert.equal(g.properties.provisioningState, 'Succeeded');
  assert.equal((await rm.resourceGroups.get(rg)).tags.t, '1');
  assert.equal((await rm.resourceGroups.checkExistence(rg)).body, true);
  assert.equal((await rm.resourceGroups.checkExistence('rg-absent')).body, false);
  assert.ok((await all(rm.resourceGroups.list())).some((x) => x.name === rg));
  await rejects(rm.resourceGroups.get('rg-absent'),
    { statusCode: 404, code: 'ResourceGroupNotFound', message: /Resource group 'rg-absent' could not be found/ });
});

let mi; // the identity the managed-identity tests use

test('userAssignedIdentities createOrUpdate, get, update, lists', async () => {
  mi = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-app', {
    location: 'westeurope', tags: { app: 'orders' } });
  assert.equal(mi.id, `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/${MI_TYPE}/id-app`);
  assert.equal(mi.type, MI_TYPE);
  assert.equal(mi.location, 'westeurope');
  assert.equal(mi.tenantId, c.tenantId);
  assert.match(mi.principalId, /^[0-9a-f-]{36}$/);
  assert.match(mi.clientId, /^[0-9a-f-]{36}$/);
  assert.notEqual(mi.principalId, mi.clientId);

  const again = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-app', {
    location: 'westeurope', tags: { app: 'orders', v: '2' } });
  assert.equal(again.clientId, mi.clientId, 'an update keeps the principal');
  assert.equal(again.principalId, mi.principalId);
  assert.equal(again.tags.v, '2');

  const patched = await msi.userAssignedIdentities.update(rg, 'id-app', { tags: { app: 'billing' } });
  assert.deepEqual(patched.tags, { app: 'billing' });
  assert.equal(patched.clientId, mi.clientId);

  const got = await msi.userAssignedIdentities.get(rg, 'id-app');
  assert.equal(got.principalId, mi.principalId);
  assert.equal(got.tags.app, 'billing');

  await msi.userAssignedIdentities.createOrUpdate(rg, 'id-other', { location: 'northeurope' });
  const byRg = (await all(msi.userAssignedIdentities.listByResourceGroup(rg))).map((x) => x.name).sort();
  assert.deepEqual(byRg, ['id-app', 'id-other']);
  const bySub = await all(msi.userAssignedIdentities.listBySubscription());
  assert.ok(bySub.some((x) => x.id === mi.id && x.clientId === mi.clientId));
});

test('userAssignedIdentities refusals: 404 shapes, location', async () => {
  await rejects(msi.userAssignedIdentities.get(rg, 'id-absent'), {
    statusCode: 404, code: 'ResourceNotFound',
    message: /The Resource 'Microsoft\.ManagedIdentity\/userAssignedIdentities\/id-absent' under resource group 'rg-identity' was not found/ });
  await rejects(msi.userAssignedIdentities.get('rg-absent', 'id-app'),
    { statusCode: 404, code: 'ResourceGroupNotFound' });
  await rejects(all(msi.userAssignedIdentities.listByResourceGroup('rg-absent')),
    { statusCode: 404, code: 'ResourceGroupNotFound' });
  await rejects(msi.userAssignedIdentities.createOrUpdate('rg-absent', 'x', { location: 'westeurope' }),
    { statusCode: 404, code: 'ResourceGroupNotFound' });
  await rejects(msi.userAssignedIdentities.createOrUpdate(rg, 'id-x', { location: 'atlantis' }),
    { statusCode: 400, code: 'LocationNotAvailableForResourceType', message: /'atlantis'/ });
  // the SDK itself refuses a missing location; the service says LocationRequired
  const r = await c.request('PUT', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/${MI_TYPE}/id-x?api-version=2024-11-30`,
    { token: (await cred.getToken('https://management.azure.com/.default')).token, body: {} });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'LocationRequired');
  await rejects(msi.userAssignedIdentities.update(rg, 'id-absent', { tags: {} }),
    { statusCode: 404, code: 'ResourceNotFound' });
});

test('ManagedIdentityCredential (App Service endpoint) gets tokens for the identity', async () => {
  assert.ok(process.env.IDENTITY_ENDPOINT && process.env.IDENTITY_HEADER, 'App Service-style env');
  const mic = new ManagedIdentityCredential({ clientId: mi.clientId });
  const v = jwtClaims((await mic.getToken('https://vault.azure.net/.default')).token);
  assert.equal(v.aud, 'https://vault.azure.net');
  assert.equal(v.oid, mi.principalId);
  assert.equal(v.appid, mi.clientId);
  assert.equal(v.tid, c.tenantId);
  assert.equal(v.idtyp, 'mi');
  assert.equal(v.xms_mirid, mi.id);
  // by resource id too
  const byRid = new ManagedIdentityCredential({ resourceId: mi.id });
  assert.equal(jwtClaims((await byRid.getToken('https://management.azure.com/.default')).token).oid,
    mi.principalId);
  // the token works against ARM
  const asMi = new ManagedServiceIdentityClient(mic, c.subscriptionId);
  assert.equal((await asMi.userAssignedIdentities.get(rg, 'id-app')).clientId, mi.clientId);
});

test('the managed identity endpoint refuses unknown identities and a wrong header', async () => {
  const unknown = new ManagedIdentityCredential({ clientId: '99999999-9999-4999-8999-999999999999' });
  const e = await rejects(unknown.getToken('https://vault.azure.net/.default'),
    { name: 'CredentialUnavailableError' });
  assert.match(e.message, /Unable to load the proper Managed Identity/);
  const r = await c.request('GET', `${mgmt}/msi/token?resource=https://vault.azure.net&api-version=2019-08-01&client_id=${mi.clientId}`,
    { headers: { 'x-identity-header': 'wrong' } });
  assert.equal(r.status, 401);
  assert.equal(r.body.statusCode, 401);
});

test('deleting the identity: its token is refused, the endpoint refuses new ones', async () => {
  const mic = new ManagedIdentityCredential({ clientId: mi.clientId });
  const asMi = new ManagedServiceIdentityClient(mic, c.subscriptionId);
  await asMi.userAssignedIdentities.get(rg, 'id-other'); // token cached in the credential
  const old = (await mic.getToken('https://management.azure.com/.default')).token;

  await msi.userAssignedIdentities.delete(rg, 'id-app');
  await rejects(msi.userAssignedIdentities.get(rg, 'id-app'), { statusCode: 404, code: 'ResourceNotFound' });
  await msi.userAssignedIdentities.delete(rg, 'id-app'); // deleting again: 204, no error

  await rejects(asMi.userAssignedIdentities.get(rg, 'id-other'),
    { statusCode: 401, code: 'InvalidAuthenticationToken' });
  // msal-node shares its managed identity token cache between credentials, as the cloud's
  // would: ask for a resource not asked for before so the request reaches the endpoint.
  const fresh = new ManagedIdentityCredential({ clientId: mi.clientId });
  const e = await rejects(fresh.getToken('https://managedhsm.azure.net/.default'),
    { name: 'CredentialUnavailableError' });
  assert.match(e.message, /Unable to load the proper Managed Identity/);

  // the same name again is a new principal; the old token stays refused
  const again = await msi.userAssignedIdentities.createOrUpdate(rg, 'id-app', { location: 'westeurope' });
  assert.notEqual(again.principalId, mi.principalId);
  assert.notEqual(again.clientId, mi.clientId);
  const r = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}?api-version=2021-04-01`,
    { token: old });
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'InvalidAuthenticationToken');
});

test('deleting the resource group deletes its identities and their principals', async () => {
  const other = await msi.userAssignedIdentities.get(rg, 'id-other');
  const mic = new ManagedIdentityCredential({ clientId: other.clientId });
  await mic.getToken('https://vault.azure.net/.default');
  await rm.resourceGroups.beginDeleteAndWait(rg, { updateIntervalInMs: 50 });
  await rejects(rm.resourceGroups.get(rg), { statusCode: 404, code: 'ResourceGroupNotFound' });
  assert.ok(!(await all(msi.userAssignedIdentities.listBySubscription())).some((x) => x.name === 'id-other'));
  const fresh = new ManagedIdentityCredential({ clientId: other.clientId });
  await rejects(fresh.getToken('https://management.azure.com/.default'), { name: 'CredentialUnavailableError' });
});

test('kill -9 and restart: identities, principals and issued tokens survive', async () => {
  await rm.resourceGroups.createOrUpdate('rg-durable', { location: 'westeurope' });
  const made = await msi.userAssignedIdentities.createOrUpdate('rg-durable', 'id-durable',
    { location: 'westeurope' });
  const before = (await new ManagedIdentityCredential({ clientId: made.clientId })
    .getToken('https://management.azure.com/.default')).token;
  await c.restartHard();
  const got = await msi.userAssignedIdentities.get('rg-durable', 'id-durable');
  assert.equal(got.clientId, made.clientId);
  assert.equal(got.principalId, made.principalId);
  const r = await c.request('GET', `${mgmt}/subscriptions/${c.subscriptionId}/resourceGroups/rg-durable?api-version=2021-04-01`,
    { token: before });
  assert.equal(r.status, 200, 'a token issued before the restart still verifies');
  const after = await new ManagedIdentityCredential({ clientId: made.clientId })
    .getToken('https://managedhsm.azure.net/.default');
  assert.equal(jwtClaims(after.token).oid, made.principalId);
});

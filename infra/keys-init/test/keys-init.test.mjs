// Unit tests of the secret initialiser, with fake AWS clients (node --test, no dependencies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apply, handle, newApiToken, newKeySet, target } from '../index.mjs';

const TOKEN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oncelink/demo/api-token-AbC123';
const KEYS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oncelink/demo/keys-Zz9x0Q';

/** A fake of the four SDK calls; `versions` is what DescribeSecret reports. */
function fakeAws({ versions = {}, parameterExists = false } = {}) {
  const calls = [];
  return {
    calls,
    describeSecret: async (input) => { calls.push(['describeSecret', input]); return { VersionIdsToStages: versions }; },
    putSecretValue: async (input) => { calls.push(['putSecretValue', input]); return {}; },
    putParameter: async (input) => {
      calls.push(['putParameter', input]);
      if (parameterExists) throw Object.assign(new Error('exists'), { name: 'ParameterAlreadyExists' });
      return {};
    },
    deleteParameter: async (input) => { calls.push(['deleteParameter', input]); return {}; },
  };
}

test('a key set is {"active":"k1","keys":{"k1": base64url of 32 bytes}}, new every time', () => {
  const a = JSON.parse(newKeySet());
  assert.deepEqual(Object.keys(a).sort(), ['active', 'keys']);
  assert.equal(a.active, 'k1');
  assert.deepEqual(Object.keys(a.keys), ['k1']);
  assert.match(a.keys.k1, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(a.keys.k1, 'base64url').length, 32);
  assert.notEqual(JSON.parse(newKeySet()).keys.k1, a.keys.k1);
});

test('an API token is 43 base64url characters (32 random bytes; the gateway wants at least 16)', () => {
  const t = newApiToken();
  assert.match(t, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(t, 'base64url').length, 32);
  assert.notEqual(newApiToken(), t);
});

test('an empty secret is filled once: the key set for .../keys, a token for .../api-token', async () => {
  for (const [arn, check] of [
    [KEYS_ARN, (v) => assert.equal(JSON.parse(v).active, 'k1')],
    [TOKEN_ARN, (v) => assert.match(v, /^[A-Za-z0-9_-]{43}$/)],
  ]) {
    const aws = fakeAws();
    assert.equal(await apply('create', { SecretId: arn }, aws), 'created');
    assert.deepEqual(aws.calls.map((c) => c[0]), ['describeSecret', 'putSecretValue']);
    assert.equal(aws.calls[1][1].SecretId, arn);
    check(aws.calls[1][1].SecretString);
  }
});

test('a secret that has a current value is never overwritten (create and update)', async () => {
  for (const action of ['create', 'update']) {
    const aws = fakeAws({ versions: { 'v-1': ['AWSCURRENT'] } });
    assert.equal(await apply(action, { SecretId: KEYS_ARN }, aws), 'kept existing');
    assert.deepEqual(aws.calls.map((c) => c[0]), ['describeSecret']);
  }
  // A version that is only pending is not a value the gateway could read: fill it.
  const pending = fakeAws({ versions: { 'v-1': ['AWSPENDING'] } });
  assert.equal(await apply('create', { SecretId: TOKEN_ARN }, pending), 'created');
});

test('delete leaves the secret to its own resource', async () => {
  const aws = fakeAws();
  assert.equal(await apply('delete', { SecretId: TOKEN_ARN }, aws), 'left to the secret resource');
  assert.equal(aws.calls.length, 0);
});

test('only oncelink secrets and parameters are touched', async () => {
  for (const props of [
    { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-password-AbC123' },
    { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oncelink/demo/other-AbC123' },
    { SecretId: 'oncelink/demo/keys' },
    { ParameterName: '/other/keys' },
    {},
  ]) {
    const aws = fakeAws();
    await assert.rejects(apply('create', props, aws), /refusing/);
    assert.equal(aws.calls.length, 0);
  }
  assert.throws(() => target({ SecretId: `${KEYS_ARN}x` }), /refusing/);
  await assert.rejects(apply('rotate', { SecretId: KEYS_ARN }, fakeAws()), /unknown action/);
});

test('SSM target (OnceLink) keeps its behaviour: create once, retain or delete on delete', async () => {
  const aws = fakeAws();
  assert.equal(await apply('create', { ParameterName: '/oncelink/demo/keys', KmsKeyId: 'k' }, aws), 'created');
  const put = aws.calls[0][1];
  assert.equal(put.Type, 'SecureString');
  assert.equal(put.Overwrite, false);
  assert.equal(JSON.parse(put.Value).active, 'k1');
  assert.equal(await apply('create', { ParameterName: '/oncelink/demo/keys' }, fakeAws({ parameterExists: true })), 'kept existing');
  assert.equal(await apply('delete', { ParameterName: '/oncelink/demo/keys', RetainOnDelete: 'true' }, fakeAws()), 'retained');
  assert.equal(await apply('delete', { ParameterName: '/oncelink/demo/keys', RetainOnDelete: 'false' }, fakeAws()), 'deleted');
});

test('Terraform invocation: returns the outcome only, and nothing logged holds the value', async () => {
  const aws = fakeAws();
  const logged = [];
  const original = console.log;
  console.log = (...args) => logged.push(args.join(' '));
  try {
    const result = await handle({ SecretId: KEYS_ARN, tf: { action: 'create' } }, aws);
    assert.deepEqual(result, { outcome: 'created' });
  } finally {
    console.log = original;
  }
  const value = aws.calls[1][1].SecretString;
  const key = JSON.parse(value).keys.k1;
  assert.ok(logged.length > 0);
  for (const line of logged) assert.ok(!line.includes(key), `logged the key: ${line}`);
  assert.ok(!JSON.stringify({ outcome: 'created' }).includes(key));
});

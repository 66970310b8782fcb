// Unit tests of the shim's forwarding and fail-closed behaviour, with an injected fake invoker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHandler, isAnswer } from '../shim.mjs';

const quiet = { error() {} };
const request = {
  clientIp: '203.0.113.178',
  headers: { host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }] },
  method: 'GET',
  querystring: 'AQJrMQ',
  uri: '/reports/a.pdf',
};
const event = {
  Records: [{ cf: { config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'E1', eventType: 'viewer-request', requestId: 'r-1' }, request } }],
};
const forbidden = {
  status: '403',
  statusDescription: 'Forbidden',
  headers: { 'cache-control': [{ key: 'Cache-Control', value: 'no-store' }] },
  body: '{"error":"link_already_used"}',
  bodyEncoding: 'text',
};

function assert503(answer, error) {
  assert.equal(answer.status, '503');
  assert.deepEqual(answer.headers['cache-control'], [{ key: 'Cache-Control', value: 'no-store' }]);
  assert.equal(JSON.parse(answer.body).error, error);
}

test('forwards the exact CloudFront event and returns the request the validator let through', async () => {
  let seen;
  const stripped = { ...request, querystring: '' };
  const handler = makeHandler({ log: quiet, invoke: async (payload) => { seen = payload; return { payload: JSON.stringify(stripped) }; } });
  assert.deepEqual(await handler(event), stripped);
  assert.deepEqual(JSON.parse(seen), event);
});

test('returns a generated response from the validator unchanged', async () => {
  const handler = makeHandler({ log: quiet, invoke: async () => ({ payload: JSON.stringify(forbidden) }) });
  assert.deepEqual(await handler(event), forbidden);
});

test('fails closed when the invoke call throws', async () => {
  const handler = makeHandler({ log: quiet, invoke: async () => { throw Object.assign(new Error('throttled'), { name: 'TooManyRequestsException' }); } });
  assert503(await handler(event), 'validator_unavailable');
});

test('fails closed on a function error (the Rust function panicked or timed out)', async () => {
  const handler = makeHandler({ log: quiet, invoke: async () => ({ payload: '{"errorMessage":"boom"}', functionError: 'Unhandled' }) });
  assert503(await handler(event), 'validator_failed');
});

test('fails closed on a timeout and aborts the pending invoke', async () => {
  let aborted = false;
  const handler = makeHandler({
    log: quiet,
    timeoutMs: 50,
    invoke: (_payload, signal) => new Promise((resolve) => {
      signal.addEventListener('abort', () => { aborted = true; });
      setTimeout(() => resolve({ payload: JSON.stringify(request) }), 1000).unref();
    }),
  });
  const started = Date.now();
  assert503(await handler(event), 'validator_unavailable');
  assert.ok(Date.now() - started < 900, 'answered before the slow invoke finished');
  assert.ok(aborted, 'the invoke was aborted');
});

for (const [name, payload] of [
  ['not JSON', 'not json'],
  ['empty', ''],
  ['null', 'null'],
  ['an array', '[]'],
  ['a numeric status', JSON.stringify({ ...forbidden, status: 403 })],
  ['a request without uri', JSON.stringify({ method: 'GET' })],
  ['a relative uri', JSON.stringify({ ...request, uri: 'reports/a.pdf' })],
]) {
  test(`fails closed on a malformed answer: ${name}`, async () => {
    const handler = makeHandler({ log: quiet, invoke: async () => ({ payload }) });
    assert503(await handler(event), 'validator_failed');
  });
}

test('the failure response stays far under the 40 KB generated-response limit', async () => {
  const handler = makeHandler({ log: quiet, invoke: async () => { throw new Error('x'); } });
  assert.ok(JSON.stringify(await handler(event)).length < 1024);
});

test('isAnswer accepts both shapes', () => {
  assert.ok(isAnswer(request));
  assert.ok(isAnswer(forbidden));
  assert.ok(!isAnswer(undefined));
});

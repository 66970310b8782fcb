// Unit tests of the origin-response path (a use is given back when the origin refused) and of
// the dispatcher that serves both events from one function, with an injected fake invoker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeOriginResponseHandler, makeEdgeHandler, isResponse, isRefusal } from '../shim.mjs';

const TOKEN = 'AQJrMQsecretToken';
const LINK_ID = '3q2-7wXlinkid00000000a';
const request = {
  clientIp: '203.0.113.178',
  headers: {
    host: [{ key: 'Host', value: 'bucket.s3.eu-west-1.amazonaws.com' }],
    'x-oncelink-link': [{ key: 'x-oncelink-link', value: LINK_ID }],
    range: [{ key: 'Range', value: 'bytes=999999-' }],
  },
  method: 'GET',
  querystring: TOKEN,
  uri: '/reports/a.pdf',
};

function originEvent(status, requestId = 'r-2') {
  const response = {
    status: String(status),
    statusDescription: 'from the origin',
    headers: { 'content-type': [{ key: 'Content-Type', value: 'application/xml' }], 'x-amz-request-id': [{ key: 'x-amz-request-id', value: 'S3REQ' }] },
  };
  return {
    Records: [{ cf: { config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'E1', eventType: 'origin-response', requestId }, request, response } }],
  };
}

/** A log that keeps every line, so tests can check what is (and is not) written. */
function recorder() {
  const lines = [];
  return { lines, error: (l) => lines.push(String(l)) };
}

/** An invoker that records its calls and answers with `answer` (an object, or a raw payload string). */
function fakeInvoker(answer) {
  const calls = [];
  const invoke = async (payload) => {
    calls.push(payload);
    return { payload: typeof answer === 'string' ? answer : JSON.stringify(answer) };
  };
  return { calls, invoke };
}

const givenBack = (event) => ({ ...event.Records[0].cf.response, headers: { ...event.Records[0].cf.response.headers, 'cache-control': [{ key: 'Cache-Control', value: 'no-store' }] } });

function assertQuietAboutTheLink(lines) {
  for (const line of lines) {
    for (const secret of [TOKEN, LINK_ID, '/reports/a.pdf', '203.0.113.178', 'bytes=999999-', 'bucket.s3']) {
      assert.ok(!line.includes(secret), `log line leaks ${secret}: ${line}`);
    }
  }
}

for (const status of [200, 204, 206, 299]) {
  test(`${status} is content: returned as it came, no invoke`, async () => {
    const { calls, invoke } = fakeInvoker({ status: '500' });
    const log = recorder();
    const event = originEvent(status);
    const out = await makeOriginResponseHandler({ invoke, log })(event);
    assert.equal(out, event.Records[0].cf.response, 'the very same object');
    assert.equal(calls.length, 0, 'successful downloads pay no invoke');
    assert.deepEqual(log.lines, []);
  });
}

for (const status of [300, 301, 304, 400, 403, 404, 412, 416, 500, 502, 503, 504]) {
  test(`${status} is a refusal: the exact event is sent and the function's response is returned`, async () => {
    const event = originEvent(status);
    const answer = givenBack(event);
    const { calls, invoke } = fakeInvoker(answer);
    const out = await makeOriginResponseHandler({ invoke, log: recorder() })(event);
    assert.equal(calls.length, 1);
    assert.deepEqual(JSON.parse(calls[0]), event);
    assert.deepEqual(out, answer);
    assert.notDeepEqual(out, event.Records[0].cf.response);
  });
}

test('a status CloudFront never sends (missing, not three digits) is not a refusal: no invoke', async () => {
  for (const status of [undefined, '', '40', '4040', 'abc', 404]) {
    const event = originEvent(404);
    event.Records[0].cf.response.status = status;
    const { calls, invoke } = fakeInvoker({ status: '404' });
    const out = await makeOriginResponseHandler({ invoke, log: recorder() })(event);
    assert.equal(out, event.Records[0].cf.response);
    assert.equal(calls.length, 0, `status ${JSON.stringify(status)}`);
  }
});

function assertOriginsResponse(out, event, log) {
  assert.equal(out, event.Records[0].cf.response, "the origin's response, unchanged");
  assert.deepEqual(out, originEvent(event.Records[0].cf.response.status).Records[0].cf.response, 'not mutated');
  assert.equal(log.lines.length, 1, 'one log line');
  assert.match(log.lines[0], /use not given back/);
  assert.match(log.lines[0], /request_id=r-2\b/);
  assertQuietAboutTheLink(log.lines);
}

test("an invoke error returns the origin's response and logs the request id only", async () => {
  const log = recorder();
  const event = originEvent(404);
  const invoke = async () => { throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }); };
  assertOriginsResponse(await makeOriginResponseHandler({ invoke, log })(event), event, log);
  assert.match(log.lines[0], /TooManyRequestsException/);
});

test("a function error (the Rust function panicked or timed out) returns the origin's response", async () => {
  const log = recorder();
  const event = originEvent(416);
  const invoke = async () => ({ payload: '{"errorMessage":"boom"}', functionError: 'Unhandled' });
  assertOriginsResponse(await makeOriginResponseHandler({ invoke, log })(event), event, log);
  assert.match(log.lines[0], /Unhandled/);
});

test("a timeout returns the origin's response and aborts the pending invoke", async () => {
  const log = recorder();
  const event = originEvent(503);
  let aborted = false;
  const invoke = (_payload, signal) => new Promise((resolve) => {
    signal.addEventListener('abort', () => { aborted = true; });
    setTimeout(() => resolve({ payload: JSON.stringify(givenBack(event)) }), 1000).unref();
  });
  const started = Date.now();
  const out = await makeOriginResponseHandler({ invoke, log, timeoutMs: 50 })(event);
  assert.ok(Date.now() - started < 900, 'answered before the slow invoke finished');
  assert.ok(aborted, 'the invoke was aborted');
  assertOriginsResponse(out, event, log);
  assert.match(log.lines[0], /did not answer within 50 ms/);
});

for (const [name, payload] of [
  ['not JSON', 'not json'],
  ['empty', ''],
  ['null', 'null'],
  ['an array', '[]'],
  ['a numeric status', JSON.stringify({ status: 404 })],
  ['a 1xx status', JSON.stringify({ status: '100' })],
  ['a status above 599', JSON.stringify({ status: '600' })],
  ['a request object', JSON.stringify(request)],
  ['a response carrying request fields', JSON.stringify({ status: '404', uri: '/x', method: 'GET' })],
  ['headers that are not an object', JSON.stringify({ status: '404', headers: [] })],
  ['a header that is not a list', JSON.stringify({ status: '404', headers: { 'cache-control': 'no-store' } })],
  ['a header entry without a string value', JSON.stringify({ status: '404', headers: { 'cache-control': [{ key: 'Cache-Control', value: 1 }] } })],
]) {
  test(`a bad answer returns the origin's response: ${name}`, async () => {
    const log = recorder();
    const event = originEvent(404);
    const { invoke } = fakeInvoker(payload);
    assertOriginsResponse(await makeOriginResponseHandler({ invoke, log })(event), event, log);
  });
}

test('isResponse accepts what CloudFront takes back, isRefusal draws the line at 300', () => {
  assert.ok(isResponse({ status: '404' }));
  assert.ok(isResponse(originEvent(404).Records[0].cf.response));
  assert.ok(!isResponse(undefined));
  assert.ok(isRefusal({ status: '300' }) && !isRefusal({ status: '299' }) && !isRefusal(undefined));
});

test('the edge handler sends origin-response events to the give-back path', async () => {
  const ok = originEvent(206);
  const refused = originEvent(404);
  const answer = givenBack(refused);
  const { calls, invoke } = fakeInvoker(answer);
  const handler = makeEdgeHandler({ invoke, log: recorder() });
  assert.equal(await handler(ok), ok.Records[0].cf.response);
  assert.equal(calls.length, 0);
  assert.deepEqual(await handler(refused), answer);
  assert.deepEqual(JSON.parse(calls[0]), refused);
});

test('the edge handler keeps viewer requests fail-closed (503) and forwards them exactly', async () => {
  const viewer = { Records: [{ cf: { config: { distributionId: 'E1', eventType: 'viewer-request', requestId: 'r-1' }, request } }] };
  const broken = makeEdgeHandler({ invoke: async () => { throw new Error('down'); }, log: recorder() });
  const out = await broken(viewer);
  assert.equal(out.status, '503');
  assert.equal(JSON.parse(out.body).error, 'validator_unavailable');
  // A response-shaped answer that is fine for origin-response is still checked as a viewer answer.
  const { calls, invoke } = fakeInvoker({ ...request, querystring: '' });
  assert.deepEqual(await makeEdgeHandler({ invoke, log: recorder() })(viewer), { ...request, querystring: '' });
  assert.deepEqual(JSON.parse(calls[0]), viewer);
  // An event without an event type is treated as a viewer request: never let through on its own.
  const noType = { Records: [{ cf: { config: {}, request } }] };
  const out2 = await makeEdgeHandler({ invoke: async () => ({ payload: 'nope' }), log: recorder() })(noType);
  assert.equal(out2.status, '503');
});

// The Lambda@Edge shim, minus its AWS SDK wiring (index.mjs adds that). One function, two
// CloudFront events, dispatched on `Records[0].cf.config.eventType`:
//
// viewer-request: Lambda@Edge runs only Node.js/Python, so the real validator is the regional
// Rust function `viewer-request`. This shim forwards the CloudFront event to it with one
// synchronous Invoke and returns its answer unchanged. It fails closed: an invoke error, a
// function error, a timeout or an answer that is neither a request nor a response becomes a 503
// generated response with `cache-control: no-store`. Nothing here ever lets a request through
// on its own.
//
// origin-response: a use is spent on delivery. When the origin refused (status >= 300: 404 not
// there yet, 416 bad range, 403, 5xx, ...) the same regional function gets the event and gives
// the use back (keyed on the CloudFront request id, so a retried trigger cannot give back
// twice), answering with the response to return. 2xx (206 too) is content: returned at once, no
// invoke. This path fails open on the response, never on the link: any failure returns the
// origin's response unchanged and logs the request id (never the URL, query or headers).

/** The generated response for every viewer-request failure: no origin access, never cached. */
export function unavailable(error) {
  return {
    status: '503',
    statusDescription: 'Service Unavailable',
    headers: {
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
    },
    body: JSON.stringify({ error, message: 'the link could not be checked; try again later' }),
    bodyEncoding: 'text',
  };
}

/** True for a CloudFront request object (let it continue) or a generated response. */
export function isAnswer(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if ('status' in value) {
    return typeof value.status === 'string' && /^[1-5][0-9][0-9]$/.test(value.status);
  }
  return typeof value.uri === 'string' && value.uri.startsWith('/') && typeof value.method === 'string';
}

/**
 * True for a response CloudFront accepts from an origin-response function: a string status in
 * 200..599 (CloudFront answers anything else with an error), no request fields, and headers
 * (if any) in CloudFront's shape `{ name: [{ key?, value: string }] }`.
 */
export function isResponse(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  if (typeof value.status !== 'string' || !/^[2-5][0-9][0-9]$/.test(value.status)) return false;
  if ('uri' in value || 'method' in value) return false;
  if (value.headers === undefined) return true;
  if (value.headers === null || typeof value.headers !== 'object' || Array.isArray(value.headers)) return false;
  return Object.values(value.headers).every((list) =>
    Array.isArray(list) && list.every((h) => h !== null && typeof h === 'object' && typeof h.value === 'string'));
}

/** True when the origin's status is a refusal (>= 300): only then is a use given back. */
export function isRefusal(response) {
  const status = typeof response?.status === 'string' && /^[0-9]{3}$/.test(response.status) ? Number(response.status) : NaN;
  return status >= 300;
}

/**
 * One synchronous call of the regional function, bounded by `timeoutMs`: resolves to the
 * invoker's `{ payload, functionError? }`, rejects on an invoke error or the deadline (and then
 * aborts the pending call).
 */
async function invokeWithin(invoke, event, timeoutMs) {
  const controller = new AbortController();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`validator did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([invoke(JSON.stringify(event), controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Builds the viewer-request handler around `invoke(payloadString, abortSignal)`, which resolves
 * to `{ payload: string, functionError?: string }` (index.mjs wraps `@aws-sdk/client-lambda`;
 * tests inject a fake). `timeoutMs` must stay below the 5 s viewer-request limit.
 */
export function makeHandler({ invoke, timeoutMs = 3000, log = console }) {
  return async function handler(event) {
    try {
      const result = await invokeWithin(invoke, event, timeoutMs);
      if (result?.functionError) {
        log.error(`oncelink shim: validator function error ${result.functionError}`);
        return unavailable('validator_failed');
      }
      let answer;
      try {
        answer = JSON.parse(result?.payload ?? '');
      } catch {
        log.error('oncelink shim: validator answer is not JSON');
        return unavailable('validator_failed');
      }
      if (!isAnswer(answer)) {
        log.error('oncelink shim: validator answer is neither a request nor a response');
        return unavailable('validator_failed');
      }
      return answer;
    } catch (err) {
      log.error(`oncelink shim: ${err?.name ?? 'Error'}: ${err?.message ?? err}`);
      return unavailable('validator_unavailable');
    }
  };
}

/**
 * Builds the origin-response handler (same invoker and budget as the viewer-request one). It
 * never breaks a response: on any failure the origin's response goes back unchanged, and the
 * log line names only the request id, the origin's status and what went wrong.
 */
export function makeOriginResponseHandler({ invoke, timeoutMs = 3000, log = console }) {
  return async function originResponse(event) {
    const cf = event?.Records?.[0]?.cf;
    const response = cf?.response;
    if (!isRefusal(response)) return response;
    const spent = (why) => {
      log.error(`oncelink shim: use not given back (${why}) request_id=${cf?.config?.requestId ?? 'unknown'} status=${response.status}`);
      return response;
    };
    try {
      const result = await invokeWithin(invoke, event, timeoutMs);
      if (result?.functionError) return spent(`validator function error ${result.functionError}`);
      let answer;
      try {
        answer = JSON.parse(result?.payload ?? '');
      } catch {
        return spent('validator answer is not JSON');
      }
      if (!isResponse(answer)) return spent('validator answer is not a response');
      return answer;
    } catch (err) {
      return spent(`${err?.name ?? 'Error'}: ${err?.message ?? err}`);
    }
  };
}

/** The Lambda@Edge entry: origin-response events give uses back, everything else is a viewer request. */
export function makeEdgeHandler(deps) {
  const viewerRequest = makeHandler(deps);
  const originResponse = makeOriginResponseHandler(deps);
  return async function handler(event) {
    return event?.Records?.[0]?.cf?.config?.eventType === 'origin-response' ? originResponse(event) : viewerRequest(event);
  };
}

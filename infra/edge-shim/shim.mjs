// The Lambda@Edge viewer-request shim, minus its AWS SDK wiring (index.mjs adds that).
//
// Lambda@Edge runs only Node.js/Python, so the real validator is the regional Rust function
// `viewer-request`. This shim forwards the CloudFront event to it with one synchronous
// Invoke and returns its answer unchanged. It fails closed: an invoke error, a function
// error, a timeout or an answer that is neither a request nor a response becomes a 503
// generated response with `cache-control: no-store`. Nothing here ever lets a request through
// on its own.

/** The generated response for every failure: no origin access, never cached. */
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
 * Builds the handler around `invoke(payloadString, abortSignal)`, which resolves to
 * `{ payload: string, functionError?: string }` (index.mjs wraps `@aws-sdk/client-lambda`;
 * tests inject a fake). `timeoutMs` must stay below the 5 s viewer-request limit.
 */
export function makeHandler({ invoke, timeoutMs = 3000, log = console }) {
  return async function handler(event) {
    const controller = new AbortController();
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`validator did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([invoke(JSON.stringify(event), controller.signal), deadline]);
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
    } finally {
      clearTimeout(timer);
    }
  };
}

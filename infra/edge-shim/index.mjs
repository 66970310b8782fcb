// Lambda@Edge entry point (Node.js 24; viewer request and origin response). See shim.mjs for the logic.
// config.mjs is generated at synth/plan time by the CDK construct or the Terraform module:
// Lambda@Edge has no environment variables, so the validator's ARN is baked into the zip.
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
import config from './config.mjs';
import { makeEdgeHandler } from './shim.mjs';

// Outside the handler: one client (and its connection pool) per execution environment.
const client = new LambdaClient({
  region: config.region,
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: config.timeoutMs },
});

async function invoke(payload, abortSignal) {
  const out = await client.send(
    new InvokeCommand({ FunctionName: config.functionArn, InvocationType: 'RequestResponse', Payload: payload }),
    { abortSignal },
  );
  return { payload: out.Payload ? Buffer.from(out.Payload).toString('utf8') : '', functionError: out.FunctionError };
}

// One function for both events: it dispatches on Records[0].cf.config.eventType.
export const handler = makeEdgeHandler({ invoke, timeoutMs: config.timeoutMs });

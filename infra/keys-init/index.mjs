// Creates the sealed-mode key set `<prefix>/keys` as an SSM SecureString, inside AWS, so the
// secret never appears in a CloudFormation template, a Terraform plan or state.
//
// Two callers:
//  * CloudFormation custom resource (CDK): event.RequestType Create|Update|Delete, answered by a
//    PUT to event.ResponseURL. Properties: ParameterName, KmsKeyId, RetainOnDelete ("true"|"false").
//  * Terraform `aws_lambda_invocation` (lifecycle_scope CRUD): the input plus
//    `tf.action` create|update|delete. Same property names.
// Create never overwrites an existing key set (a redeploy must not invalidate issued links);
// rotation is a documented manual step (infra/README.md). Delete removes it unless retained.
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { SSMClient, PutParameterCommand, DeleteParameterCommand } from '@aws-sdk/client-ssm';

const ssm = new SSMClient({});

export function newKeySet() {
  return JSON.stringify({ active: 'k1', keys: { k1: randomBytes(32).toString('base64url') } });
}

async function create({ ParameterName, KmsKeyId }) {
  try {
    await ssm.send(new PutParameterCommand({
      Name: ParameterName, Type: 'SecureString', KeyId: KmsKeyId, Value: newKeySet(), Overwrite: false,
      Description: 'oncelink sealed-link key set (generated in AWS; rotate per infra/README.md)',
    }));
    return 'created';
  } catch (err) {
    if (err?.name === 'ParameterAlreadyExists') return 'kept existing';
    throw err;
  }
}

async function remove({ ParameterName, RetainOnDelete }) {
  if (String(RetainOnDelete) === 'true') return 'retained';
  try {
    await ssm.send(new DeleteParameterCommand({ Name: ParameterName }));
    return 'deleted';
  } catch (err) {
    if (err?.name === 'ParameterNotFound') return 'already gone';
    throw err;
  }
}

async function apply(action, props) {
  if (!/^\/oncelink\/[A-Za-z0-9_.-]+\/keys$/.test(props?.ParameterName ?? '')) {
    throw new Error(`refusing parameter name ${JSON.stringify(props?.ParameterName)}`);
  }
  if (action === 'create' || action === 'update') return create(props);
  if (action === 'delete') return remove(props);
  throw new Error(`unknown action ${action}`);
}

function respond(event, status, reason) {
  const body = JSON.stringify({
    Status: status, Reason: reason, PhysicalResourceId: event.ResourceProperties?.ParameterName ?? 'oncelink-keys',
    StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId, NoEcho: true, Data: {},
  });
  return new Promise((resolve, reject) => {
    const req = https.request(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function handler(event) {
  if (event?.RequestType) {
    try {
      const outcome = await apply(event.RequestType.toLowerCase(), event.ResourceProperties);
      console.log(`oncelink keys: ${outcome}`);
      await respond(event, 'SUCCESS', outcome);
    } catch (err) {
      console.error(err);
      await respond(event, 'FAILED', String(err?.message ?? err).slice(0, 200));
    }
    return;
  }
  const outcome = await apply(event?.tf?.action ?? 'create', event);
  console.log(`oncelink keys: ${outcome}`);
  return { outcome };
}

// Creates oncelink's secrets inside AWS, so that no secret ever appears in a CloudFormation
// template, a Terraform plan or state, or a log line.
//
// Two targets:
//  * ParameterName `/oncelink/<name>/keys` (OnceLink, CloudFront): the sealed-mode key set as an
//    SSM SecureString under KmsKeyId. Delete removes it unless RetainOnDelete is "true".
//  * SecretId `arn:…:secret:oncelink/<name>/keys-XXXXXX` or `…/api-token-XXXXXX`
//    (OnceLinkStaticIp, the Fargate gateway): fills an existing, empty Secrets Manager secret with
//    the key set or a new API token. The secret itself belongs to the stack or module (which
//    also deletes it), so Delete does nothing here.
//
// Two callers:
//  * CloudFormation custom resource (CDK): event.RequestType Create|Update|Delete, answered by a
//    PUT to event.ResponseURL.
//  * Terraform `aws_lambda_invocation` (lifecycle_scope CRUD): the input plus
//    `tf.action` create|update|delete. Same property names.
// Create never overwrites an existing value (a redeploy must not invalidate issued links or the
// token clients hold); rotation is a documented manual step (infra/README.md).
import { randomBytes } from 'node:crypto';
import https from 'node:https';

/** `{"active":"k1","keys":{"k1":"<base64url of 32 random bytes>"}}`, what ONCELINK_KEYS and `<prefix>/keys` hold. */
export function newKeySet() {
  return JSON.stringify({ active: 'k1', keys: { k1: randomBytes(32).toString('base64url') } });
}

/** An API token for the gateway: 32 random bytes, base64url (43 characters; the gateway wants ≥ 16). */
export function newApiToken() {
  return randomBytes(32).toString('base64url');
}

const PARAMETER = /^\/oncelink\/[A-Za-z0-9_.-]+\/keys$/;
// The secret's own name is oncelink/<name>/<what>; Secrets Manager appends -XXXXXX to the ARN.
const SECRET = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:oncelink\/[a-z0-9-]+\/(keys|api-token)-[A-Za-z0-9]{6}$/;

/** What a property set asks for: an SSM parameter, or a secret and what goes into it. */
export function target(props) {
  if (props?.SecretId !== undefined) {
    const m = SECRET.exec(String(props.SecretId));
    if (!m) throw new Error(`refusing secret ${JSON.stringify(props.SecretId)}`);
    return { kind: 'secret', id: props.SecretId, generate: m[1] === 'keys' ? newKeySet : newApiToken };
  }
  if (!PARAMETER.test(props?.ParameterName ?? '')) {
    throw new Error(`refusing parameter name ${JSON.stringify(props?.ParameterName)}`);
  }
  return { kind: 'parameter', name: props.ParameterName };
}

/** The AWS SDK clients, loaded only when a real event arrives (the Lambda runtime ships SDK v3). */
async function awsClients() {
  const [ssm, sm] = await Promise.all([import('@aws-sdk/client-ssm'), import('@aws-sdk/client-secrets-manager')]);
  const ssmClient = new ssm.SSMClient({});
  const smClient = new sm.SecretsManagerClient({});
  return {
    putParameter: (input) => ssmClient.send(new ssm.PutParameterCommand(input)),
    deleteParameter: (input) => ssmClient.send(new ssm.DeleteParameterCommand(input)),
    describeSecret: (input) => smClient.send(new sm.DescribeSecretCommand(input)),
    putSecretValue: (input) => smClient.send(new sm.PutSecretValueCommand(input)),
  };
}

async function createParameter(aws, { ParameterName, KmsKeyId }) {
  try {
    await aws.putParameter({
      Name: ParameterName, Type: 'SecureString', KeyId: KmsKeyId, Value: newKeySet(), Overwrite: false,
      Description: 'oncelink sealed-link key set (generated in AWS; rotate per infra/README.md)',
    });
    return 'created';
  } catch (err) {
    if (err?.name === 'ParameterAlreadyExists') return 'kept existing';
    throw err;
  }
}

async function removeParameter(aws, { ParameterName, RetainOnDelete }) {
  if (String(RetainOnDelete) === 'true') return 'retained';
  try {
    await aws.deleteParameter({ Name: ParameterName });
    return 'deleted';
  } catch (err) {
    if (err?.name === 'ParameterNotFound') return 'already gone';
    throw err;
  }
}

async function fillSecret(aws, { id, generate }) {
  const described = await aws.describeSecret({ SecretId: id });
  const stages = Object.values(described?.VersionIdsToStages ?? {}).flat();
  if (stages.includes('AWSCURRENT')) return 'kept existing';
  await aws.putSecretValue({ SecretId: id, SecretString: generate() });
  return 'created';
}

/** Carries out one lifecycle action; returns a word for the log, never a value. */
export async function apply(action, props, aws) {
  const t = target(props);
  if (action !== 'create' && action !== 'update' && action !== 'delete') throw new Error(`unknown action ${action}`);
  if (t.kind === 'secret') return action === 'delete' ? 'left to the secret resource' : fillSecret(aws, t);
  return action === 'delete' ? removeParameter(aws, props) : createParameter(aws, props);
}

function respond(event, status, reason) {
  const props = event.ResourceProperties ?? {};
  const body = JSON.stringify({
    Status: status, Reason: reason, PhysicalResourceId: props.ParameterName ?? props.SecretId ?? 'oncelink-keys',
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

/** The Lambda entry point; `aws` is injected by the tests. */
export async function handle(event, aws) {
  if (event?.RequestType) {
    try {
      const outcome = await apply(event.RequestType.toLowerCase(), event.ResourceProperties, aws ?? await awsClients());
      console.log(`oncelink keys: ${outcome}`);
      await respond(event, 'SUCCESS', outcome);
    } catch (err) {
      console.error(err);
      await respond(event, 'FAILED', String(err?.message ?? err).slice(0, 200));
    }
    return;
  }
  const outcome = await apply(event?.tf?.action ?? 'create', event, aws ?? await awsClients());
  console.log(`oncelink keys: ${outcome}`);
  return { outcome };
}

export const handler = (event) => handle(event);

// Assertion tests of the OnceLink construct (aws-cdk-lib/assertions under node's test runner).
// The Rust zips are stood in by tiny placeholder zips: these tests are about the template.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Template, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EVENT_DETAIL_TYPES, LINK_HEADER, OnceLink, splitCidrs, type OnceLinkProps, type OnceLinkMode } from '../lib/oncelink';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-fake-artifacts-'));
for (const fn of ['issue-url', 'viewer-request', 'ledger-events']) {
  fs.mkdirSync(path.join(artifacts, fn), { recursive: true });
  fs.writeFileSync(path.join(artifacts, fn, 'bootstrap'), '#!/bin/sh\n');
  execFileSync('zip', ['-q', '-j', path.join(artifacts, fn, 'bootstrap.zip'), path.join(artifacts, fn, 'bootstrap')]);
}

interface Built { app: App; main: Template; edge: Template; edgeStack: Stack; alarms: Template; construct: OnceLink }

function build(mode: OnceLinkMode, extra: Partial<OnceLinkProps> = {}, nag = false): Built {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-cdk-test-')) });
  const stack = new Stack(app, 'Test', { env: { account: ACCOUNT, region: REGION } });
  const construct = new OnceLink(stack, 'OnceLink', { deploymentName: 'demo', mode, artifactsDir: artifacts, ...extra });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const edgeStack = app.node.findChild('Test-edge') as Stack;
  const alarms = Template.fromStack(app.node.findChild('Test-edge-alarms') as Stack);
  return { app, main: Template.fromStack(stack), edge: Template.fromStack(edgeStack), edgeStack, alarms, construct };
}

const sealed = build('sealed');
const presigned = build('presigned', { keyPrefix: 'shared/' });

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Principal?: unknown };
const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** Every identity-policy statement in a template, tagged with the role it is attached to. */
function identityStatements(t: Template): { role: string; st: Statement }[] {
  const out: { role: string; st: Statement }[] = [];
  for (const [, p] of Object.entries(t.findResources('AWS::IAM::Policy'))) {
    for (const role of p.Properties.Roles as { Ref: string }[]) {
      for (const st of p.Properties.PolicyDocument.Statement) out.push({ role: role.Ref, st });
    }
  }
  for (const [id, r] of Object.entries(t.findResources('AWS::IAM::Role'))) {
    for (const pol of r.Properties.Policies ?? []) for (const st of pol.PolicyDocument.Statement) out.push({ role: id, st });
  }
  return out;
}

function roleOf(t: Template, prefix: string): string {
  const ids = Object.keys(t.findResources('AWS::IAM::Role')).filter((id) => id.startsWith(prefix));
  assert.equal(ids.length, 1, `one role ${prefix}*`);
  return ids[0];
}

function actionsOf(t: Template, role: string): string[] {
  return identityStatements(t).filter((s) => s.role === role).flatMap((s) => asList(s.st.Action)).sort();
}

describe('ledger table', () => {
  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: pk (S) only, TTL expires_at, on-demand, PITR, encrypted`, () => {
      b.main.resourceCountIs('AWS::DynamoDB::Table', 1);
      b.main.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      b.main.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
    });
  }
});

describe('SSM parameters', () => {
  test('table-name and edge-config under /oncelink/<name>; no key material in the template', () => {
    for (const b of [sealed, presigned]) {
      b.main.hasResourceProperties('AWS::SSM::Parameter', { Name: '/oncelink/demo/table-name', Type: 'String' });
      b.main.hasResourceProperties('AWS::SSM::Parameter', { Name: '/oncelink/demo/edge-config', Type: 'String' });
    }
    const json = JSON.stringify(sealed.main.toJSON());
    assert.ok(!json.includes('"active"'), 'no key set JSON in the template');
    assert.equal(Object.values(sealed.main.findResources('AWS::SSM::Parameter')).filter((p) => p.Properties.Name === '/oncelink/demo/keys').length, 0);
  });

  test('edge-config is the JSON the validator parses (mode, cdn_domain)', () => {
    const p = Object.values(sealed.main.findResources('AWS::SSM::Parameter')).find((r) => r.Properties.Name === '/oncelink/demo/edge-config')!;
    const text = JSON.stringify(p.Properties.Value);
    assert.match(text, /\\"mode\\":\\"sealed\\"/);
    assert.match(text, /cdn_domain/);
    assert.ok(!text.includes('bot_user_agents'), 'the validator denies unknown fields');
  });

  test('sealed: key set created in AWS by a custom resource with a dedicated KMS key; presigned: neither', () => {
    sealed.main.resourceCountIs('Custom::OnceLinkKeySet', 1);
    sealed.main.hasResourceProperties('Custom::OnceLinkKeySet', { ParameterName: '/oncelink/demo/keys', RetainOnDelete: 'true' });
    sealed.main.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    presigned.main.resourceCountIs('Custom::OnceLinkKeySet', 0);
    presigned.main.resourceCountIs('AWS::KMS::Key', 0);
  });
});

describe('CloudFront', () => {
  const distribution = (t: Template) => Object.values(t.findResources('AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig;

  test('sealed: OAC (always sign) on the S3 origin, no OAI', () => {
    sealed.main.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    sealed.main.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
    const origin = distribution(sealed.main).Origins[0];
    assert.ok(origin.OriginAccessControlId, 'OAC attached');
    assert.equal(origin.S3OriginConfig.OriginAccessIdentity, '');
    sealed.main.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
  });

  test('presigned: neither OAC nor OAI (query auth + OAC = two auth mechanisms)', () => {
    presigned.main.resourceCountIs('AWS::CloudFront::OriginAccessControl', 0);
    presigned.main.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
    const origin = distribution(presigned.main).Origins[0];
    assert.equal(origin.OriginAccessControlId, undefined);
    assert.equal(origin.S3OriginConfig.OriginAccessIdentity, '');
  });

  test('presigned: origin request policy forwards every query string and viewer header except Host', () => {
    assert.equal(distribution(presigned.main).DefaultCacheBehavior.OriginRequestPolicyId, ALL_VIEWER_EXCEPT_HOST);
  });

  test('sealed: custom origin request policy forwards query strings, never Host or Authorization', () => {
    const [policy] = Object.values(sealed.main.findResources('AWS::CloudFront::OriginRequestPolicy'));
    const cfg = policy.Properties.OriginRequestPolicyConfig;
    assert.equal(cfg.QueryStringsConfig.QueryStringBehavior, 'all');
    assert.equal(cfg.HeadersConfig.HeaderBehavior, 'whitelist');
    const headers = cfg.HeadersConfig.Headers.map((h: string) => h.toLowerCase());
    assert.ok(!headers.includes('host') && !headers.includes('authorization'), `forwarded: ${headers}`);
  });

  test('both modes forward x-oncelink-link (the validator adds it; the origin-response give-back reads it)', () => {
    assert.equal(LINK_HEADER, 'x-oncelink-link');
    const [policy] = Object.values(sealed.main.findResources('AWS::CloudFront::OriginRequestPolicy'));
    assert.equal(distribution(sealed.main).DefaultCacheBehavior.OriginRequestPolicyId.Ref, Object.keys(sealed.main.findResources('AWS::CloudFront::OriginRequestPolicy'))[0]);
    assert.ok(policy.Properties.OriginRequestPolicyConfig.HeadersConfig.Headers.map((h: string) => h.toLowerCase()).includes('x-oncelink-link'), 'sealed allow-list');
    // Presigned: the managed all-viewer-headers-except-Host policy, no allow-list to miss it.
    presigned.main.resourceCountIs('AWS::CloudFront::OriginRequestPolicy', 0);
    assert.equal(distribution(presigned.main).DefaultCacheBehavior.OriginRequestPolicyId, ALL_VIEWER_EXCEPT_HOST);
  });

  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: caching disabled, HTTPS only, security headers, viewer-request shim`, () => {
      const behavior = distribution(b.main).DefaultCacheBehavior;
      assert.equal(behavior.CachePolicyId, CACHING_DISABLED);
      assert.equal(behavior.ViewerProtocolPolicy, 'https-only');
      assert.ok(behavior.ResponseHeadersPolicyId);
      assert.equal(behavior.LambdaFunctionAssociations[0].EventType, 'viewer-request');
      assert.equal(behavior.LambdaFunctionAssociations[0].IncludeBody, false);
      b.main.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
        ResponseHeadersPolicyConfig: {
          SecurityHeadersConfig: Match.objectLike({
            ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
            StrictTransportSecurity: Match.objectLike({ Override: true }),
            ContentTypeOptions: { Override: true },
          }),
        },
      });
    });

    test(`${mode}: the shim is also on origin response, the same published version, no body`, () => {
      const behavior = distribution(b.main).DefaultCacheBehavior;
      const assoc = behavior.LambdaFunctionAssociations as { EventType: string; IncludeBody?: boolean; LambdaFunctionARN: unknown }[];
      assert.deepEqual(assoc.map((a) => a.EventType), ['viewer-request', 'origin-response']);
      const origin = assoc[1];
      assert.ok(!origin.IncludeBody, 'response events cannot include a body');
      assert.deepEqual(origin.LambdaFunctionARN, assoc[0].LambdaFunctionARN, 'one function, one version, both events');
      // That ARN is the edge stack's published version of the one shim function.
      const reader = (origin.LambdaFunctionARN as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const paramName = b.main.toJSON().Resources[reader].Properties.ParameterName;
      const [param] = Object.values(b.edge.findResources('AWS::SSM::Parameter', { Properties: { Name: paramName } }));
      const [versionId] = Object.keys(b.edge.findResources('AWS::Lambda::Version'));
      assert.deepEqual(param.Properties.Value, { Ref: versionId });
      const [fnId] = Object.keys(b.edge.findResources('AWS::Lambda::Function'));
      assert.deepEqual(b.edge.toJSON().Resources[versionId].Properties.FunctionName, { Ref: fnId });
      // No other behavior could bypass either trigger.
      assert.equal(distribution(b.main).CacheBehaviors, undefined);
    });

    test(`${mode}: every object response gets nosniff and a CSP with sandbox, overriding the origin`, () => {
      const behavior = distribution(b.main).DefaultCacheBehavior;
      const policies = b.main.findResources('AWS::CloudFront::ResponseHeadersPolicy');
      assert.deepEqual(behavior.ResponseHeadersPolicyId, { Ref: Object.keys(policies)[0] });
      assert.equal(Object.keys(policies).length, 1);
      const sec = Object.values(policies)[0].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
      assert.deepEqual(sec.ContentTypeOptions, { Override: true }, 'X-Content-Type-Options: nosniff');
      assert.equal(sec.ContentSecurityPolicy.Override, true);
      const directives = (sec.ContentSecurityPolicy.ContentSecurityPolicy as string).split(';').map((d) => d.trim());
      assert.ok(directives.includes('sandbox'), `CSP: ${sec.ContentSecurityPolicy.ContentSecurityPolicy}`);
      assert.ok(directives.includes("default-src 'none'"));
      assert.equal(distribution(b.main).CacheBehaviors, undefined, 'no other behavior serves objects without the policy');
    });
  }
});

describe('bucket', () => {
  const statements = (t: Template): Statement[] => Object.values(t.findResources('AWS::S3::BucketPolicy'))[0].Properties.PolicyDocument.Statement;

  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: public access blocked, TLS only`, () => {
      b.main.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      });
      const deny = statements(b.main).find((s) => s.Effect === 'Deny')!;
      assert.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
    });
  }

  test('sealed: the only Allow is for this distribution (AWS:SourceArn), GET/PUT on the prefix', () => {
    const allows = statements(sealed.main).filter((s) => s.Effect === 'Allow');
    assert.equal(allows.length, 1);
    const [allow] = allows;
    assert.deepEqual(allow.Principal, { Service: 'cloudfront.amazonaws.com' });
    assert.deepEqual(asList(allow.Action).sort(), ['s3:GetObject', 's3:PutObject']);
    const source = JSON.stringify((allow.Condition as Record<string, Record<string, unknown>>).StringEquals['AWS:SourceArn']);
    const distId = Object.keys(sealed.main.findResources('AWS::CloudFront::Distribution'))[0];
    assert.ok(source.includes(`"Ref":"${distId}"`) && source.includes(':distribution/'), source);
  });

  test('presigned: no Allow statement (the issuer role signs; S3 checks the signature)', () => {
    assert.equal(statements(presigned.main).filter((s) => s.Effect === 'Allow').length, 0);
  });
});

describe('IAM: least privilege', () => {
  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: no wildcard actions, no Resource "*", every statement Allow with a resource`, () => {
      for (const t of [b.main, b.edge]) {
        for (const { role, st } of identityStatements(t)) {
          for (const a of asList(st.Action)) assert.ok(!a.includes('*'), `${role}: wildcard action ${a}`);
          for (const r of asList(st.Resource)) assert.notEqual(r, '*', `${role}: Resource * for ${st.Action}`);
          assert.equal(st.Effect, 'Allow');
        }
      }
    });

    test(`${mode}: validator may only touch its table, its parameters (and the key-set key)`, () => {
      const role = roleOf(b.main, 'OnceLinkViewerRequestRole');
      const expected = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'logs:CreateLogStream', 'logs:PutLogEvents', 'ssm:GetParameter', 'ssm:GetParameters'];
      if (mode === 'sealed') expected.push('kms:Decrypt');
      assert.deepEqual(actionsOf(b.main, role), expected.sort());
      const table = Object.keys(b.main.findResources('AWS::DynamoDB::Table'))[0];
      for (const { st } of identityStatements(b.main).filter((s) => s.role === role)) {
        const actions = asList(st.Action);
        const res = JSON.stringify(st.Resource);
        if (actions[0].startsWith('dynamodb:')) assert.equal(res, JSON.stringify({ 'Fn::GetAtt': [table, 'Arn'] }));
        if (actions[0].startsWith('ssm:')) {
          const names = asList(st.Resource).map((r) => JSON.stringify(r).match(/parameter\/oncelink\/demo\/([a-z-]+)/)?.[1]).sort();
          assert.deepEqual(names, ['edge-config', 'keys', 'table-name']);
        }
        if (actions[0] === 'kms:Decrypt') assert.deepEqual(st.Condition, { StringEquals: { 'kms:ViaService': `ssm.${REGION}.amazonaws.com` } });
      }
    });

    test(`${mode}: issue-url may sign only under the prefix, and only revoke, tag and read links in the ledger`, () => {
      const role = roleOf(b.main, 'OnceLinkIssueUrlRole');
      const expected = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'logs:CreateLogStream', 'logs:PutLogEvents', 'ssm:GetParameter', 'ssm:GetParameters'];
      if (mode === 'presigned') expected.push('s3:GetObject', 's3:PutObject');
      if (mode === 'sealed') expected.push('kms:Decrypt');
      assert.deepEqual(actionsOf(b.main, role), expected.sort());
      const s3 = identityStatements(b.main).filter((s) => s.role === role && asList(s.st.Action).includes('s3:GetObject'));
      if (mode === 'presigned') assert.match(JSON.stringify(s3[0].st.Resource), /\/shared\/\*"/);
    });

    test(`${mode}: the shim may only invoke its validator (and write its own logs)`, () => {
      const role = roleOf(b.edge, 'OnceLinkdemoEdgeShimRole');
      // The one edge function (both triggers) runs as this role.
      const fns = Object.values(b.edge.findResources('AWS::Lambda::Function'));
      assert.equal(fns.length, 1);
      assert.deepEqual(fns[0].Properties.Role, { 'Fn::GetAtt': [role, 'Arn'] });
      assert.deepEqual(actionsOf(b.edge, role), ['lambda:InvokeFunction', 'logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'].sort());
      const invoke = identityStatements(b.edge).find((s) => s.role === role && asList(s.st.Action).includes('lambda:InvokeFunction'))!;
      assert.equal(JSON.stringify(invoke.st.Resource), JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:lambda:${REGION}:${ACCOUNT}:function:oncelink-demo-viewer-request`]] }));
      const trust = (Object.values(b.edge.findResources('AWS::IAM::Role'))[0].Properties.AssumeRolePolicyDocument.Statement as { Principal: { Service: string } }[])
        .flatMap((st) => asList(st.Principal.Service)).sort();
      assert.deepEqual(trust, ['edgelambda.amazonaws.com', 'lambda.amazonaws.com']);
    });
  }
});

describe('functions', () => {
  test('Rust functions: provided.al2023 on arm64 with the contract environment', () => {
    for (const b of [sealed, presigned]) {
      b.main.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: 'oncelink-demo-viewer-request', Runtime: 'provided.al2023', Architectures: ['arm64'], Handler: 'bootstrap',
        Environment: { Variables: Match.objectLike({ ONCELINK_SSM_PREFIX: '/oncelink/demo', ONCELINK_HOME_REGION: REGION }) },
      });
    }
    presigned.main.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'oncelink-demo-issue-url', Runtime: 'provided.al2023', Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          ONCELINK_MODE: 'presigned', ONCELINK_KEY_PREFIX: 'shared/', ONCELINK_SSM_PREFIX: '/oncelink/demo', ONCELINK_REGION: REGION,
          ONCELINK_DEFAULT_EXPIRES_SECS: '900', ONCELINK_MAX_EXPIRES_SECS: '604800', ONCELINK_CORS_ORIGINS: '',
          ONCELINK_BUCKET: Match.anyValue(), ONCELINK_TABLE: Match.absent(), ONCELINK_CDN_DOMAIN: Match.anyValue(),
        }),
      },
    });
  });

  test('edge shim: Node.js in us-east-1, x86_64, 128 MB, 5 s, no environment, zip well under 1 MB', () => {
    for (const b of [sealed, presigned]) {
      assert.equal(b.edgeStack.region, 'us-east-1');
      const [fn] = Object.values(b.edge.findResources('AWS::Lambda::Function'));
      assert.match(fn.Properties.Runtime, /^nodejs(2[2-9]|[3-9][0-9])\.x$/);
      assert.deepEqual(fn.Properties.Architectures ?? ['x86_64'], ['x86_64']);
      assert.equal(fn.Properties.MemorySize, 128);
      assert.equal(fn.Properties.Timeout, 5);
      assert.equal(fn.Properties.Environment, undefined);
      assert.equal(fn.Properties.Handler, 'index.handler');
      // The asset as CDK staged it: zip it as Lambda will receive it.
      const s3Key = JSON.stringify(fn.Properties.Code.S3Key);
      const hash = s3Key.match(/([0-9a-f]{64})\.zip/)![1];
      const assetDir = path.join(b.app.outdir, `asset.${hash}`);
      const config = fs.readFileSync(path.join(assetDir, 'config.mjs'), 'utf8');
      assert.match(config, /arn:aws:lambda:eu-west-1:123456789012:function:oncelink-demo-viewer-request/);
      assert.match(config, /"timeoutMs": 3000/);
      const zip = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shimzip-')), 'shim.zip');
      execFileSync('zip', ['-q', '-r', '-X', zip, '.'], { cwd: assetDir });
      const size = fs.statSync(zip).size;
      assert.ok(size <= 1024 * 1024, `shim zip ${size} bytes`);
      assert.deepEqual(fs.readdirSync(assetDir).sort(), ['config.mjs', 'index.mjs', 'shim.mjs']);
      // The deployed entry point dispatches both events (viewer request, origin response).
      assert.match(fs.readFileSync(path.join(assetDir, 'index.mjs'), 'utf8'), /^export const handler = makeEdgeHandler\(/m);
    }
  });

  test('an edge invoke timeout of 5 s or more is refused', () => {
    assert.throws(() => build('sealed', { edgeInvokeTimeout: Duration.seconds(5) }), /under the 5 s/);
  });
});

describe('issue API', () => {
  test('IAM auth by default on POST/GET /links and DELETE /links/{id}', () => {
    const routes = Object.values(sealed.main.findResources('AWS::ApiGatewayV2::Route')).map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationType]);
    assert.deepEqual(routes.sort(), [['DELETE /links/{id}', 'AWS_IAM'], ['GET /links', 'AWS_IAM'], ['POST /links', 'AWS_IAM']]);
    sealed.main.hasResourceProperties('AWS::ApiGatewayV2::Integration', { PayloadFormatVersion: '2.0' });
    sealed.main.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AccessLogSettings: Match.anyValue() });
  });

  test('JWT authorizer and CORS origins when asked', () => {
    const b = build('presigned', { issuerAuth: { kind: 'jwt', issuer: 'https://issuer.example.com', audience: ['oncelink'] }, corsOrigins: ['https://app.example.com'] });
    b.main.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['oncelink'] } });
    for (const r of Object.values(b.main.findResources('AWS::ApiGatewayV2::Route'))) assert.equal(r.Properties.AuthorizationType, 'JWT');
    b.main.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.example.com'] }) });
    b.main.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ ONCELINK_CORS_ORIGINS: 'https://app.example.com' }) } });
  });

  test('outputs: API URL, CDN domain, table name, bucket name, event bus, DLQ, dashboard', () => {
    const keys = Object.keys(sealed.main.findOutputs('*'));
    for (const o of ['ApiUrl', 'CdnDomain', 'TableName', 'BucketName', 'EventBusArn', 'EventsDlqUrl', 'DashboardName']) assert.ok(keys.some((k) => k.includes(o)), `${o} in ${keys}`);
  });
});

describe('optional WAF', () => {
  test('a rate-based CloudFront-scope ACL in us-east-1, attached to the distribution', () => {
    const b = build('sealed', { wafRateLimit: 2000 });
    b.edge.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } }, Action: { Block: {} } })],
    });
    const cfg = Object.values(b.main.findResources('AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig;
    assert.ok(cfg.WebACLId, 'WebACLId set');
  });
});

describe('WAF allow list', () => {
  const webAcl = (b: Built) => Object.values(b.edge.findResources('AWS::WAFv2::WebACL'))[0].Properties;
  const ipSets = (b: Built) => Object.values(b.edge.findResources('AWS::WAFv2::IPSet')).map((r) => r.Properties);
  const notAllowed = {
    Name: 'not-in-allow-list', Priority: 1, Action: { Block: {} },
    Statement: { NotStatement: { Statement: { OrStatement: { Statements: [
      { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^demoAllowV4'), 'Arn'] } } },
      { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^demoAllowV6'), 'Arn'] } } },
    ] } } } },
  };

  test('alone: one ACL whose only rule blocks every address outside the IPv4 and IPv6 sets', () => {
    const b = build('sealed', { wafAllowedCidrs: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32'] });
    b.edge.resourceCountIs('AWS::WAFv2::WebACL', 1);
    const sets = ipSets(b);
    assert.deepEqual(sets.map((p) => [p.Name, p.IPAddressVersion, p.Scope, p.Addresses]).sort(), [
      ['oncelink-demo-allow-v4', 'IPV4', 'CLOUDFRONT', ['203.0.113.0/24', '198.51.100.7/32']],
      ['oncelink-demo-allow-v6', 'IPV6', 'CLOUDFRONT', ['2001:db8::/32']],
    ]);
    const acl = webAcl(b);
    assert.deepEqual(acl.DefaultAction, { Allow: {} });
    assert.equal(acl.Rules.length, 1);
    b.edge.hasResourceProperties('AWS::WAFv2::WebACL', { Name: 'oncelink-demo-rate-limit', Scope: 'CLOUDFRONT', Rules: [Match.objectLike(notAllowed)] });
    assert.ok(Object.values(b.main.findResources('AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig.WebACLId);
  });

  test('with the rate limit: one ACL, rate rule first, then the allow list', () => {
    const b = build('presigned', { wafRateLimit: 500, wafAllowedCidrs: ['203.0.113.0/24'] });
    b.edge.resourceCountIs('AWS::WAFv2::WebACL', 1);
    const acl = webAcl(b);
    assert.deepEqual(acl.Rules.map((r: { Name: string; Priority: number }) => [r.Name, r.Priority]), [['per-ip-rate-limit', 0], ['not-in-allow-list', 1]]);
    b.edge.hasResourceProperties('AWS::WAFv2::WebACL', { Rules: [Match.objectLike({ Statement: { RateBasedStatement: { Limit: 500, AggregateKeyType: 'IP' } } }), Match.objectLike(notAllowed)] });
    // An empty IPv6 set is still created, so the rule has one shape.
    assert.deepEqual(ipSets(b).find((p) => p.IPAddressVersion === 'IPV6')!.Addresses, []);
  });

  test('rate limit alone: no IP sets, no allow-list rule; neither: no ACL at all', () => {
    const b = build('sealed', { wafRateLimit: 500 });
    b.edge.resourceCountIs('AWS::WAFv2::IPSet', 0);
    assert.deepEqual(webAcl(b).Rules.map((r: { Name: string }) => r.Name), ['per-ip-rate-limit']);
    sealed.edge.resourceCountIs('AWS::WAFv2::WebACL', 0);
    sealed.edge.resourceCountIs('AWS::WAFv2::IPSet', 0);
    assert.equal(Object.values(sealed.main.findResources('AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig.WebACLId, undefined);
  });

  test('anything but an IPv4 or IPv6 CIDR is refused', () => {
    assert.deepEqual(splitCidrs(['10.0.0.0/8', '::/0']), { v4: ['10.0.0.0/8'], v6: ['::/0'] });
    for (const bad of ['10.0.0.1', '10.0.0.256/32', '10.0.0.0/33', '2001:db8::/129', 'example.com/24']) {
      assert.throws(() => build('sealed', { wafAllowedCidrs: [bad] }), /not an IPv4 or IPv6 CIDR/, bad);
    }
  });
});

describe('link events', () => {
  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: the ledger has a NEW_AND_OLD_IMAGES stream`, () => {
      b.main.hasResourceProperties('AWS::DynamoDB::Table', { StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' } });
    });

    test(`${mode}: ledger-events is Rust on arm64 with the bus in its environment`, () => {
      const bus = Object.keys(b.main.findResources('AWS::Events::EventBus'));
      assert.equal(bus.length, 1);
      b.main.hasResourceProperties('AWS::Events::EventBus', { Name: 'oncelink-demo' });
      b.main.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: 'oncelink-demo-ledger-events', Runtime: 'provided.al2023', Architectures: ['arm64'], Handler: 'bootstrap',
        Environment: { Variables: { RUST_LOG: 'info', ONCELINK_EVENT_BUS: { 'Fn::GetAtt': [bus[0], 'Arn'] } } },
      });
    });

    test(`${mode}: the stream mapping reports item failures, bisects, retries a bounded number of times, then the encrypted DLQ`, () => {
      const table = Object.keys(b.main.findResources('AWS::DynamoDB::Table'))[0];
      const queue = Object.keys(b.main.findResources('AWS::SQS::Queue'))[0];
      const fn = Object.entries(b.main.findResources('AWS::Lambda::Function')).find(([, r]) => r.Properties.FunctionName === 'oncelink-demo-ledger-events')![0];
      b.main.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
      b.main.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fn },
        EventSourceArn: { 'Fn::GetAtt': [table, 'StreamArn'] },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 100,
        ParallelizationFactor: 1,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        MaximumRecordAgeInSeconds: 3600,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
      });
      const mapping = Object.values(b.main.findResources('AWS::Lambda::EventSourceMapping'))[0];
      const role = roleOf(b.main, 'OnceLinkLedgerEventsRole');
      const policy = Object.entries(b.main.findResources('AWS::IAM::Policy')).find(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]))![0];
      assert.ok(mapping.DependsOn.includes(policy), 'the mapping waits for the role policy');
      b.main.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'oncelink-demo-ledger-events-dlq', SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
      b.main.hasResourceProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    });

    test(`${mode}: ledger-events may read the stream, PutEvents oncelink events on its bus, send to its DLQ, and nothing else`, () => {
      const role = roleOf(b.main, 'OnceLinkLedgerEventsRole');
      assert.deepEqual(actionsOf(b.main, role), ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams', 'events:PutEvents', 'logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:SendMessage']);
      const sts = identityStatements(b.main).filter((s) => s.role === role).map((s) => s.st);
      const table = Object.keys(b.main.findResources('AWS::DynamoDB::Table'))[0];
      const bus = Object.keys(b.main.findResources('AWS::Events::EventBus'))[0];
      const queue = Object.keys(b.main.findResources('AWS::SQS::Queue'))[0];
      const by = (a: string) => sts.find((st) => asList(st.Action).includes(a))!;
      assert.deepEqual(by('dynamodb:GetRecords').Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/stream/*']] });
      assert.deepEqual(by('events:PutEvents').Resource, { 'Fn::GetAtt': [bus, 'Arn'] });
      assert.deepEqual(by('events:PutEvents').Condition, { StringEquals: { 'events:source': 'oncelink', 'events:detail-type': EVENT_DETAIL_TYPES } });
      assert.deepEqual(by('sqs:SendMessage').Resource, { 'Fn::GetAtt': [queue, 'Arn'] });
      assert.deepEqual(asList(by('sqs:SendMessage').Action), ['sqs:SendMessage']);
    });
  }

  test('an existing bus: none created, the function gets its ARN and PutEvents only there', () => {
    const arn = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/shared`;
    const b = build('sealed', { eventBusArn: arn });
    b.main.resourceCountIs('AWS::Events::EventBus', 0);
    b.main.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'oncelink-demo-ledger-events', Environment: { Variables: Match.objectLike({ ONCELINK_EVENT_BUS: arn }) } });
    const role = roleOf(b.main, 'OnceLinkLedgerEventsRole');
    const put = identityStatements(b.main).find((s) => s.role === role && asList(s.st.Action).includes('events:PutEvents'))!;
    assert.equal(put.st.Resource, arn);
  });
});

describe('alarms and dashboard', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const alarmsOf = (t: Template): Record<string, any> => Object.fromEntries(Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((r) => [r.Properties.AlarmName, r.Properties]));

  test('home region: ledger, config, denial spike and event delivery, each > threshold, missing data not breaching', () => {
    const a = alarmsOf(sealed.main);
    assert.deepEqual(Object.keys(a).sort(), ['oncelink-demo-config-errors', 'oncelink-demo-denial-spike', 'oncelink-demo-event-delivery', 'oncelink-demo-ledger-errors']);
    for (const p of Object.values(a)) {
      assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(p.TreatMissingData, 'notBreaching');
      assert.equal(p.AlarmActions, undefined, 'no action unless a topic is given or created');
    }
    assert.deepEqual(a['oncelink-demo-ledger-errors'].Metrics, [{ Id: 'q1', Expression: 'SELECT SUM(LedgerErrors) FROM SCHEMA(oncelink, Function)', Period: 300, ReturnData: true }]);
    assert.equal(a['oncelink-demo-ledger-errors'].Threshold, 0);
    assert.deepEqual(a['oncelink-demo-config-errors'].Metrics, [{ Id: 'q1', Expression: 'SELECT SUM(ConfigErrors) FROM SCHEMA(oncelink, Function)', Period: 300, ReturnData: true }]);
    assert.deepEqual(a['oncelink-demo-denial-spike'].Metrics, [{ Id: 'q1', Expression: "SELECT SUM(Decisions) FROM SCHEMA(oncelink, Decision, Function, Reason) WHERE Decision = 'deny'", Period: 300, ReturnData: true }]);
    assert.equal(a['oncelink-demo-denial-spike'].Threshold, 100);
    const ev = a['oncelink-demo-event-delivery'];
    assert.equal(ev.Threshold, 0);
    const stats = Object.fromEntries(ev.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map((m: { Id: string; ReturnData: boolean; MetricStat: { Metric: { Namespace: string; MetricName: string; Dimensions: unknown }; Stat: string } }) => {
      assert.equal(m.ReturnData, false);
      return [m.Id, [m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Dimensions, m.MetricStat.Stat]];
    }));
    assert.deepEqual(stats, {
      failures: ['oncelink', 'EventPublishFailures', [{ Name: 'Function', Value: 'ledger-events' }], 'Sum'],
      errors: ['AWS/Lambda', 'Errors', [{ Name: 'FunctionName', Value: 'oncelink-demo-ledger-events' }], 'Sum'],
      dlq: ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', [{ Name: 'QueueName', Value: 'oncelink-demo-ledger-events-dlq' }], 'Maximum'],
    });
    assert.deepEqual(ev.Metrics.filter((m: { ReturnData: boolean }) => m.ReturnData).map((m: { Expression: string }) => m.Expression), ['FILL(failures, 0) + FILL(errors, 0) + FILL(dlq, 0)']);
  });

  test('edge 5xx: CloudFront 5xxErrorRate of this distribution (Region=Global), in a us-east-1 stack deployed after the home one', () => {
    const a = alarmsOf(sealed.alarms);
    assert.deepEqual(Object.keys(a), ['oncelink-demo-edge-5xx']);
    const p = a['oncelink-demo-edge-5xx'];
    assert.deepEqual([p.Namespace, p.MetricName, p.Statistic, p.Period, p.EvaluationPeriods, p.DatapointsToAlarm, p.Threshold], ['AWS/CloudFront', '5xxErrorRate', 'Average', 300, 2, 2, 5]);
    assert.deepEqual(p.Dimensions.map((d: { Name: string }) => d.Name), ['DistributionId', 'Region']);
    assert.equal(p.Dimensions[1].Value, 'Global');
    // The id arrives through CDK's cross-region export (written by the home stack).
    assert.match(JSON.stringify(p.Dimensions[0].Value), /ExportsReader/);
    const stack = sealed.app.node.findChild('Test-edge-alarms') as Stack;
    assert.equal(stack.region, 'us-east-1');
    assert.ok(stack.dependencies.some((d) => d.stackName === 'Test'));
    assert.match(JSON.stringify(sealed.main.toJSON()), /Custom::CrossRegionExportWriter/);
  });

  test('thresholds come from the props', () => {
    const b = build('sealed', { alarms: { denialThreshold: 7, denialPeriod: Duration.minutes(1), edge5xxRatePercent: 2.5 } });
    const a = alarmsOf(b.main);
    assert.equal(a['oncelink-demo-denial-spike'].Threshold, 7);
    assert.equal(a['oncelink-demo-denial-spike'].Metrics[0].Period, 60);
    assert.equal(alarmsOf(b.alarms)['oncelink-demo-edge-5xx'].Threshold, 2.5);
    assert.throws(() => build('sealed', { alarms: { denialPeriod: Duration.seconds(90) } }), /denialPeriod/);
    assert.throws(() => build('sealed', { alarms: { edge5xxRatePercent: 0 } }), /edge5xxRatePercent/);
  });

  test('existing topics: home alarms notify one, the edge alarm the us-east-1 one; none created', () => {
    const home = `arn:aws:sns:${REGION}:${ACCOUNT}:ops`;
    const edge = `arn:aws:sns:us-east-1:${ACCOUNT}:ops-edge`;
    const b = build('sealed', { alarms: { topicArn: home, edgeTopicArn: edge, createTopics: true } });
    for (const p of Object.values(alarmsOf(b.main))) assert.deepEqual([p.AlarmActions, p.OKActions], [[home], [home]]);
    assert.deepEqual(alarmsOf(b.alarms)['oncelink-demo-edge-5xx'].AlarmActions, [edge]);
    b.main.resourceCountIs('AWS::SNS::Topic', 0);
    b.alarms.resourceCountIs('AWS::SNS::Topic', 0);
  });

  test('created topics: KMS-encrypted, TLS only, only this deployment\'s alarms may publish, one per region', () => {
    const b = build('sealed', { alarms: { createTopics: true } });
    for (const [t, topicName, region] of [[b.main, 'oncelink-demo-alarms', REGION], [b.alarms, 'oncelink-demo-edge-alarms', 'us-east-1']] as const) {
      t.resourceCountIs('AWS::SNS::Topic', 1);
      t.hasResourceProperties('AWS::SNS::Topic', { TopicName: topicName, KmsMasterKeyId: Match.anyValue() });
      t.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]) },
      });
      const topic = Object.keys(t.findResources('AWS::SNS::Topic'))[0];
      t.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow', Action: 'sns:Publish', Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:${region}:${ACCOUNT}:alarm:oncelink-demo-*`]] } }, StringEquals: { 'aws:SourceAccount': ACCOUNT } },
          }),
        ]) },
      });
      for (const p of Object.values(alarmsOf(t))) assert.deepEqual(p.AlarmActions, [{ Ref: topic }]);
    }
  });

  test('home stack in us-east-1: the edge 5xx alarm sits in it, no extra stack', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-cdk-test-')) });
    const stack = new Stack(app, 'Virginia', { env: { account: ACCOUNT, region: 'us-east-1' } });
    new OnceLink(stack, 'OnceLink', { deploymentName: 'demo', artifactsDir: artifacts });
    assert.equal(app.node.tryFindChild('Virginia-edge-alarms'), undefined);
    const names = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')).map((r) => r.Properties.AlarmName);
    assert.ok(names.includes('oncelink-demo-edge-5xx'));
    assert.equal(names.length, 5);
  });

  test('dashboard oncelink-<name>: the shared template with every metric the brief lists', () => {
    for (const b of [sealed, presigned]) {
      b.main.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      const [d] = Object.values(b.main.findResources('AWS::CloudWatch::Dashboard'));
      assert.equal(d.Properties.DashboardName, 'oncelink-demo');
      const [body, vars] = d.Properties.DashboardBody['Fn::Sub'];
      const widgets = JSON.parse(body).widgets;
      const text = JSON.stringify(widgets);
      for (const m of ['Decisions', 'DecisionLatency', 'LedgerErrors', 'ConfigErrors', 'ApiAnswers', 'LinksIssued', 'UsesGivenBack', 'EventsPublished', 'EventPublishFailures', '5xxErrorRate']) {
        assert.match(text, new RegExp(m), m);
      }
      assert.match(text, /GROUP BY Decision/);
      assert.match(text, /WHERE Decision = 'deny' GROUP BY Reason/);
      assert.match(text, /"p50"/);
      assert.match(text, /"p99"/);
      assert.match(text, /GROUP BY Code/);
      const placeholders = new Set([...body.matchAll(/\$\{([A-Za-z]+)\}/g)].map((m: RegExpMatchArray) => m[1]));
      assert.deepEqual([...placeholders].sort(), Object.keys(vars).sort());
      assert.equal(vars.Region, REGION);
      assert.equal(vars.LedgerEventsFunction, 'oncelink-demo-ledger-events');
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  for (const mode of ['sealed', 'presigned'] as const) {
    test(`${mode}: zero unacknowledged findings (synth fails on any)`, () => {
      const b = build(mode, { wafRateLimit: 1000, wafAllowedCidrs: ['203.0.113.0/24', '2001:db8::/32'], keyPrefix: 'shared/', alarms: { createTopics: true } }, true);
      assert.doesNotThrow(() => b.app.synth());
      const report = JSON.parse(fs.readFileSync(path.join(b.app.outdir, 'validation-report.json'), 'utf8'));
      assert.deepEqual(report.pluginReports, []);
    });
  }

  test('the check is live: an unacknowledged wildcard fails synth', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-nag-')) });
    const stack = new Stack(app, 'Bad', { env: { account: ACCOUNT, region: REGION } });
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.throws(() => app.synth(), /Validation failed/);
    const report = fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8');
    assert.match(report, /AwsSolutions-IAM5/);
  });
});

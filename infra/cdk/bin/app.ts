#!/usr/bin/env node
// Sample app: one oncelink deployment. Everything comes from context (-c key=value):
//   mode=sealed|presigned (default sealed), name=<deployment> (default "demo"),
//   account / region (default 123456789012 / eu-west-1, so synth needs no credentials),
//   artifactsDir (default <repo>/target/lambda), keyPrefix, corsOrigins (comma separated),
//   jwtIssuer + jwtAudience (JWT auth instead of IAM), wafRateLimit, cdnDomain + certificateArn,
//   bucketName (use an existing bucket), nag=false (skip cdk-nag).
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OnceLink, type IssuerAuth, type OnceLinkMode } from '../lib/oncelink';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return v === undefined || v === '' ? undefined : String(v);
};

const mode = (ctx('mode') ?? 'sealed') as OnceLinkMode;
const name = ctx('name') ?? 'demo';
const env = { account: ctx('account') ?? '123456789012', region: ctx('region') ?? 'eu-west-1' };
const stack = new Stack(app, `OnceLink-${name}`, { env, description: `oncelink ${name} (${mode} links)` });

const jwtIssuer = ctx('jwtIssuer');
const issuerAuth: IssuerAuth = jwtIssuer
  ? { kind: 'jwt', issuer: jwtIssuer, audience: (ctx('jwtAudience') ?? '').split(',').filter(Boolean) }
  : { kind: 'iam' };
const cdnDomain = ctx('cdnDomain');
const certificateArn = ctx('certificateArn');
const bucketName = ctx('bucketName');

new OnceLink(stack, 'OnceLink', {
  deploymentName: name,
  mode,
  bucket: bucketName ? s3.Bucket.fromBucketName(stack, 'ExistingBucket', bucketName) : undefined,
  cdn: cdnDomain && certificateArn ? { domainName: cdnDomain, certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', certificateArn) } : undefined,
  keyPrefix: ctx('keyPrefix'),
  corsOrigins: ctx('corsOrigins')?.split(',').filter(Boolean),
  issuerAuth,
  wafRateLimit: ctx('wafRateLimit') ? Number(ctx('wafRateLimit')) : undefined,
  artifactsDir: ctx('artifactsDir'),
});

if (ctx('nag') !== 'false') {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
app.synth();

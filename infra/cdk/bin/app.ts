#!/usr/bin/env node
// Sample app: one oncelink deployment. Everything comes from context (-c key=value):
//   mode=sealed|presigned (default sealed), name=<deployment> (default "demo"),
//   account / region (default 123456789012 / eu-west-1, so synth needs no credentials),
//   artifactsDir (default <repo>/target/lambda), keyPrefix, corsOrigins (comma separated),
//   jwtIssuer + jwtAudience (JWT auth instead of IAM), wafRateLimit, wafAllowedCidrs (comma
//   separated), cdnDomain + certificateArn, bucketName (use an existing bucket), eventBusArn (an
//   existing bus for the link events), alarmTopicArn + edgeAlarmTopicArn (existing SNS topics;
//   the edge one in us-east-1) or createAlarmTopics=true, denialThreshold, denialPeriodSecs,
//   edge5xxRatePercent, nag=false (skip cdk-nag).
//
// deployment=static-ip instead deploys OnceLinkStaticIp (the gateway on Fargate behind an NLB and
// Global Accelerator; stack OnceLinkStaticIp-<name>), from: domainName, certificateArn (ACM, in
// the region), imageRepository (ECR URI) + imageTag, hostedZoneId + hostedZoneName (optional:
// an A alias), mode, bucketName, minTasks, maxTasks, resumeWindow (seconds), availabilityZones
// (comma separated; default: the region's first two, chosen by CloudFormation).
import { App, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { OnceLink, type IssuerAuth, type OnceLinkMode } from '../lib/oncelink';
import { OnceLinkStaticIp, repositoryFromUri } from '../lib/static-ip';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return v === undefined || v === '' ? undefined : String(v);
};

const mode = (ctx('mode') ?? 'sealed') as OnceLinkMode;
const name = ctx('name') ?? 'demo';
const PLACEHOLDER_ACCOUNT = '123456789012';
const env = { account: ctx('account') ?? PLACEHOLDER_ACCOUNT, region: ctx('region') ?? 'eu-west-1' };
const bucketName = ctx('bucketName');
const deployment = ctx('deployment') ?? 'cloudfront';

/**
 * A stack whose availability zones need no lookup (synth works offline, with or without
 * credentials): the ones named in context, else the region's first two, resolved by
 * CloudFormation at deploy time (Fn::GetAZs).
 */
class FixedAzStack extends Stack {
  constructor(scope: Construct, id: string, props: StackProps, private readonly azs?: string[]) {
    super(scope, id, props);
  }
  get availabilityZones(): string[] {
    return this.azs ?? [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())];
  }
}

if (deployment === 'static-ip') {
  const region = env.region;
  const azs = ctx('availabilityZones')?.split(',').filter(Boolean);
  const stack = new FixedAzStack(app, `OnceLinkStaticIp-${name}`, { env, description: `oncelink ${name}: static IPs (Global Accelerator, NLB, Fargate gateway; ${mode} links)` }, azs);
  const zoneId = ctx('hostedZoneId');
  const zoneName = ctx('hostedZoneName');
  new OnceLinkStaticIp(stack, 'OnceLinkStaticIp', {
    deploymentName: name,
    mode,
    domainName: ctx('domainName') ?? 'files.example.com',
    certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate',
      ctx('certificateArn') ?? `arn:aws:acm:${region}:${env.account}:certificate/00000000-0000-0000-0000-000000000000`),
    hostedZone: zoneId && zoneName ? route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: zoneId, zoneName }) : undefined,
    imageRepository: repositoryFromUri(stack, 'Image', ctx('imageRepository') ?? `${env.account}.dkr.ecr.${region}.amazonaws.com/oncelink`),
    imageTag: ctx('imageTag') ?? 'latest',
    bucket: bucketName ? s3.Bucket.fromBucketName(stack, 'ExistingBucket', bucketName) : undefined,
    minTasks: ctx('minTasks') ? Number(ctx('minTasks')) : undefined,
    maxTasks: ctx('maxTasks') ? Number(ctx('maxTasks')) : undefined,
    resumeWindow: ctx('resumeWindow') ? Duration.seconds(Number(ctx('resumeWindow'))) : undefined,
  });
} else if (deployment === 'cloudfront') {
  const stack = new Stack(app, `OnceLink-${name}`, { env, description: `oncelink ${name} (${mode} links)` });

  const jwtIssuer = ctx('jwtIssuer');
  const issuerAuth: IssuerAuth = jwtIssuer
    ? { kind: 'jwt', issuer: jwtIssuer, audience: (ctx('jwtAudience') ?? '').split(',').filter(Boolean) }
    : { kind: 'iam' };
  const cdnDomain = ctx('cdnDomain');
  const certificateArn = ctx('certificateArn');

  new OnceLink(stack, 'OnceLink', {
    deploymentName: name,
    mode,
    bucket: bucketName ? s3.Bucket.fromBucketName(stack, 'ExistingBucket', bucketName) : undefined,
    cdn: cdnDomain && certificateArn ? { domainName: cdnDomain, certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', certificateArn) } : undefined,
    keyPrefix: ctx('keyPrefix'),
    corsOrigins: ctx('corsOrigins')?.split(',').filter(Boolean),
    issuerAuth,
    wafRateLimit: ctx('wafRateLimit') ? Number(ctx('wafRateLimit')) : undefined,
    wafAllowedCidrs: ctx('wafAllowedCidrs')?.split(',').filter(Boolean),
    eventBusArn: ctx('eventBusArn'),
    alarms: {
      topicArn: ctx('alarmTopicArn'),
      edgeTopicArn: ctx('edgeAlarmTopicArn'),
      createTopics: ctx('createAlarmTopics') === 'true',
      denialThreshold: ctx('denialThreshold') ? Number(ctx('denialThreshold')) : undefined,
      denialPeriod: ctx('denialPeriodSecs') ? Duration.seconds(Number(ctx('denialPeriodSecs'))) : undefined,
      edge5xxRatePercent: ctx('edge5xxRatePercent') ? Number(ctx('edge5xxRatePercent')) : undefined,
    },
    artifactsDir: ctx('artifactsDir'),
  });
} else {
  throw new Error(`deployment must be cloudfront or static-ip, got ${deployment}`);
}

if (ctx('nag') !== 'false') {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
app.synth();

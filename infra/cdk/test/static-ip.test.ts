// Assertion tests of the OnceLinkStaticIp construct (aws-cdk-lib/assertions under node's test runner).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { OnceLink } from '../lib/oncelink';
import { LEDGER_ACTIONS, OnceLinkStaticIp, type OnceLinkStaticIpProps, repositoryFromUri } from '../lib/static-ip';
import type { OnceLinkMode } from '../lib/common';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const CERT = `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555`;
const REPO_URI = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/oncelink`;
const GA_ZONE = 'Z2BJ6XQ5FK7U4H'; // Route 53's hosted zone id for every Global Accelerator alias

class AzStack extends Stack {
  constructor(scope: Construct, id: string, props: StackProps) { super(scope, id, props); }
  get availabilityZones() { return [Fn.select(0, Fn.getAzs()), Fn.select(1, Fn.getAzs())]; }
}

interface Built { app: App; t: Template; json: Record<string, any>; construct: OnceLinkStaticIp }

function build(mode: OnceLinkMode, extra: Partial<OnceLinkStaticIpProps> = {}, nag = false, zone = false): Built {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-static-test-')) });
  const stack = new AzStack(app, 'Test', { env: { account: ACCOUNT, region: REGION } });
  const construct = new OnceLinkStaticIp(stack, 'OnceLinkStaticIp', {
    deploymentName: 'demo',
    mode,
    domainName: 'files.example.com',
    certificate: acm.Certificate.fromCertificateArn(stack, 'Cert', CERT),
    imageRepository: repositoryFromUri(stack, 'Repo', REPO_URI),
    imageTag: '0.1.0',
    hostedZone: zone ? route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABC', zoneName: 'example.com' }) : undefined,
    ...extra,
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const t = Template.fromStack(stack);
  return { app, t, json: t.toJSON(), construct };
}

const sealed = build('sealed');
const presigned = build('presigned');

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>>; Principal?: unknown };
const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
const only = (t: Template, type: string) => {
  const found = Object.entries(t.findResources(type));
  assert.equal(found.length, 1, `one ${type}`);
  return { id: found[0][0], props: found[0][1].Properties, res: found[0][1] };
};
const idOf = (t: Template, type: string, prefix: string) => {
  const ids = Object.keys(t.findResources(type)).filter((k) => k.startsWith(prefix));
  assert.equal(ids.length, 1, `one ${type} ${prefix}*: ${ids}`);
  return ids[0];
};
const groupId = (id: string) => ({ 'Fn::GetAtt': [id, 'GroupId'] });

function identityStatements(t: Template): { role: string; st: Statement }[] {
  const out: { role: string; st: Statement }[] = [];
  for (const p of Object.values(t.findResources('AWS::IAM::Policy'))) {
    for (const role of p.Properties.Roles as { Ref: string }[]) for (const st of p.Properties.PolicyDocument.Statement) out.push({ role: role.Ref, st });
  }
  return out;
}
const actionsOf = (t: Template, role: string) => identityStatements(t).filter((s) => s.role === role).flatMap((s) => asList(s.st.Action)).sort();
const container = (t: Template) => only(t, 'AWS::ECS::TaskDefinition').props.ContainerDefinitions[0];

describe('ledger and bucket', () => {
  test('the table is exactly the one OnceLink creates (pk S, TTL expires_at, PITR, encrypted, on-demand, retained), less its event stream', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-static-cmp-')) });
    const stack = new Stack(app, 'Cf', { env: { account: ACCOUNT, region: REGION } });
    const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'oncelink-static-zips-'));
    for (const fn of ['issue-url', 'viewer-request', 'ledger-events']) {
      fs.mkdirSync(path.join(artifacts, fn));
      fs.writeFileSync(path.join(artifacts, fn, 'bootstrap.zip'), 'PK\u0005\u0006' + '\u0000'.repeat(18));
    }
    new OnceLink(stack, 'OnceLink', { deploymentName: 'demo', artifactsDir: artifacts });
    const theirs = only(Template.fromStack(stack), 'AWS::DynamoDB::Table');
    for (const b of [sealed, presigned]) {
      const ours = only(b.t, 'AWS::DynamoDB::Table');
      // OnceLink's table also streams its changes to the ledger-events function; the gateway has none.
      const { StreamSpecification, ...theirsWithoutStream } = theirs.props;
      assert.deepEqual(StreamSpecification, { StreamViewType: 'NEW_AND_OLD_IMAGES' });
      assert.deepEqual(ours.props, theirsWithoutStream);
      assert.equal(ours.res.DeletionPolicy, 'Retain');
      assert.deepEqual(ours.props.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
      assert.deepEqual(ours.props.TimeToLiveSpecification, { AttributeName: 'expires_at', Enabled: true });
      assert.deepEqual(ours.props.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
      assert.deepEqual(ours.props.SSESpecification, { SSEEnabled: true });
    }
  });

  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: the bucket admits the task role only through the S3 gateway endpoint`, () => {
      const statements: Statement[] = only(b.t, 'AWS::S3::BucketPolicy').props.PolicyDocument.Statement;
      const role = idOf(b.t, 'AWS::IAM::Role', 'OnceLinkStaticIpTaskRole');
      const endpoint = { Ref: idOf(b.t, 'AWS::EC2::VPCEndpoint', 'OnceLinkStaticIpVpcS3Endpoint') };
      const allows = statements.filter((s) => s.Effect === 'Allow');
      assert.equal(allows.length, 1);
      assert.equal(allows[0].Sid, 'GatewayThroughEndpoint');
      assert.deepEqual(allows[0].Principal, { AWS: { 'Fn::GetAtt': [role, 'Arn'] } });
      assert.deepEqual(asList(allows[0].Action).sort(), ['s3:GetObject', 's3:PutObject']);
      assert.deepEqual(allows[0].Condition, { StringEquals: { 'aws:SourceVpce': endpoint } });
      const deny = statements.find((s) => s.Sid === 'GatewayRoleOnlyThroughEndpoint')!;
      assert.equal(deny.Effect, 'Deny');
      assert.deepEqual(deny.Principal, { AWS: '*' });
      assert.deepEqual(deny.Condition, { StringNotEquals: { 'aws:SourceVpce': endpoint }, ArnEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [role, 'Arn'] } } });
      assert.ok(statements.some((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } })), 'TLS only');
      b.t.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      });
    });
  }
});

describe('network', () => {
  test('two public subnets (NLB) with the internet gateway, two isolated ones (tasks) without any default route, no NAT', () => {
    const t = sealed.t;
    t.resourceCountIs('AWS::EC2::Subnet', 4);
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    const routes = Object.values(t.findResources('AWS::EC2::Route'));
    assert.equal(routes.length, 2, 'only the public route tables have a route');
    for (const r of routes) {
      assert.equal(r.Properties.DestinationCidrBlock, '0.0.0.0/0');
      assert.ok(r.Properties.GatewayId, 'to the internet gateway');
    }
    const service = only(t, 'AWS::ECS::Service').props;
    const subnets = service.NetworkConfiguration.AwsvpcConfiguration.Subnets.map((s: { Ref: string }) => s.Ref);
    assert.equal(subnets.length, 2);
    for (const s of subnets) assert.match(s, /tasksSubnet/);
    const nlb = only(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer').props;
    for (const s of nlb.Subnets) assert.match(s.Ref, /publicSubnet/);
    t.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
  });

  test('security groups: 443 to the NLB, 8787 from the NLB only, HTTPS out to the endpoints only', () => {
    const t = sealed.t;
    const nlbSg = idOf(t, 'AWS::EC2::SecurityGroup', 'OnceLinkStaticIpNlbSecurityGroup');
    const taskSg = idOf(t, 'AWS::EC2::SecurityGroup', 'OnceLinkStaticIpTaskSecurityGroup');
    const endpointSg = idOf(t, 'AWS::EC2::SecurityGroup', 'OnceLinkStaticIpEndpointSecurityGroup');
    const nlb = t.toJSON().Resources[nlbSg].Properties;
    assert.deepEqual(nlb.SecurityGroupIngress.map((r: any) => [r.CidrIp, r.IpProtocol, r.FromPort, r.ToPort]), [['0.0.0.0/0', 'tcp', 443, 443]]);
    const rules = (type: string) => Object.values(t.findResources(type)).map((r) => r.Properties);
    const ingress = rules('AWS::EC2::SecurityGroupIngress');
    const egress = rules('AWS::EC2::SecurityGroupEgress');
    // Nothing reaches the tasks but the NLB, on the gateway port; nothing reaches the endpoints but the tasks.
    assert.deepEqual(ingress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(groupId(taskSg))).map((r) => [r.SourceSecurityGroupId, r.FromPort, r.ToPort]),
      [[groupId(nlbSg), 8787, 8787]]);
    assert.deepEqual(ingress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(groupId(endpointSg))).map((r) => [r.SourceSecurityGroupId, r.FromPort, r.ToPort]),
      [[groupId(taskSg), 443, 443]]);
    assert.equal(ingress.length, 2);
    assert.equal(t.toJSON().Resources[taskSg].Properties.SecurityGroupIngress, undefined);
    // The NLB may only talk to the tasks' port; the tasks only HTTPS to the endpoints and the two prefix lists.
    assert.deepEqual(egress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(groupId(nlbSg))).map((r) => [r.DestinationSecurityGroupId, r.FromPort]), [[groupId(taskSg), 8787]]);
    const taskOut = egress.filter((r) => JSON.stringify(r.GroupId) === JSON.stringify(groupId(taskSg)));
    assert.equal(taskOut.length, 3);
    for (const r of taskOut) assert.deepEqual([r.IpProtocol, r.FromPort, r.ToPort], ['tcp', 443, 443]);
    assert.deepEqual(taskOut.map((r) => r.DestinationSecurityGroupId ?? r.DestinationPrefixListId['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, '')).sort(),
      [groupId(endpointSg), 'OnceLinkStaticIpDynamoDbPrefixList', 'OnceLinkStaticIpS3PrefixList'].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    for (const sg of [nlbSg, taskSg, endpointSg]) {
      const out = t.toJSON().Resources[sg].Properties.SecurityGroupEgress ?? [];
      for (const r of out) assert.equal(r.CidrIp, '255.255.255.255/32', 'no allow-all egress');
    }
    // The prefix lists are the gateway endpoints' own, by name.
    const lookups = Object.values(t.findResources('Custom::AWS')).map((r) => JSON.parse(r.Properties.Update['Fn::Join'] ? r.Properties.Update['Fn::Join'][1].join('') : r.Properties.Update));
    assert.deepEqual(lookups.map((l) => l.parameters.Filters[0].Values[0]).sort(), [`com.amazonaws.${REGION}.dynamodb`, `com.amazonaws.${REGION}.s3`]);
  });

  test('VPC endpoints: S3 and DynamoDB gateways with narrow policies; ECR, Logs, Secrets Manager interfaces', () => {
    const t = sealed.t;
    const endpoints = Object.entries(t.findResources('AWS::EC2::VPCEndpoint')).map(([id, r]) => ({ id, p: r.Properties }));
    const name = (p: any) => (typeof p.ServiceName === 'string' ? p.ServiceName : p.ServiceName['Fn::Join'][1].map((x: unknown) => (typeof x === 'string' ? x : REGION)).join(''));
    assert.deepEqual(endpoints.map((e) => name(e.p)).sort(), ['dynamodb', 'ecr.api', 'ecr.dkr', 'logs', 's3', 'secretsmanager'].map((s) => `com.amazonaws.${REGION}.${s}`).sort());
    const table = idOf(t, 'AWS::DynamoDB::Table', 'OnceLinkStaticIpLedger');
    const bucket = idOf(t, 'AWS::S3::Bucket', 'OnceLinkStaticIpBucket');
    for (const e of endpoints) {
      const svc = name(e.p).split('.').slice(3).join('.');
      if (svc === 's3' || svc === 'dynamodb') {
        assert.equal(e.p.VpcEndpointType, 'Gateway');
        assert.equal(e.p.RouteTableIds.length, 2);
        const sts: Statement[] = e.p.PolicyDocument.Statement;
        const taskRole = { AWS: { 'Fn::GetAtt': [idOf(t, 'AWS::IAM::Role', 'OnceLinkStaticIpTaskRole'), 'Arn'] } };
        if (svc === 'dynamodb') assert.deepEqual(sts[0].Principal, taskRole);
        if (svc === 's3') assert.deepEqual(sts.map((s) => s.Principal), [{ AWS: '*' }, taskRole], 'ECR presigns its layer URLs; the objects are the task role\'s');
        if (svc === 'dynamodb') {
          assert.deepEqual(sts.map((s) => [asList(s.Action).sort(), s.Resource]), [[LEDGER_ACTIONS.slice().sort(), { 'Fn::GetAtt': [table, 'Arn'] }]]);
        } else {
          assert.deepEqual(sts.map((s) => s.Sid), ['EcrImageLayers', 'Objects']);
          assert.match(JSON.stringify(sts[0].Resource), /:s3:::prod-eu-west-1-starport-layer-bucket\/\*/);
          assert.deepEqual(asList(sts[0].Action), ['s3:GetObject']);
          assert.deepEqual(asList(sts[1].Action).sort(), ['s3:GetObject', 's3:PutObject']);
          assert.match(JSON.stringify(sts[1].Resource), new RegExp(`${bucket}.*/\\*`));
        }
      } else {
        assert.equal(e.p.VpcEndpointType, 'Interface');
        assert.equal(e.p.PrivateDnsEnabled, true);
        assert.deepEqual(e.p.SecurityGroupIds, [groupId(idOf(t, 'AWS::EC2::SecurityGroup', 'OnceLinkStaticIpEndpointSecurityGroup'))]);
        for (const s of e.p.SubnetIds) assert.match(s.Ref, /tasksSubnet/);
      }
    }
  });
});

describe('load balancer and accelerator', () => {
  test('NLB: internet-facing, its own SG, cross-zone; TLS 443 with the ACM certificate, TLS 1.3/1.2 policy, HTTP/1.1 ALPN', () => {
    const t = sealed.t;
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network', Scheme: 'internet-facing', Name: 'oncelink-demo',
      LoadBalancerAttributes: [{ Key: 'deletion_protection.enabled', Value: 'false' }, { Key: 'load_balancing.cross_zone.enabled', Value: 'true' }],
    });
    const listener = only(t, 'AWS::ElasticLoadBalancingV2::Listener').props;
    assert.equal(listener.Port, 443);
    assert.equal(listener.Protocol, 'TLS');
    assert.deepEqual(listener.Certificates, [{ CertificateArn: CERT }]);
    assert.equal(listener.SslPolicy, 'ELBSecurityPolicy-TLS13-1-2-2021-06');
    assert.deepEqual(listener.AlpnPolicy, ['HTTP1Only']);
  });

  test('target group: IP targets on the plain HTTP port, health check GET /_oncelink/healthz, no client IP preservation', () => {
    const tg = only(sealed.t, 'AWS::ElasticLoadBalancingV2::TargetGroup').props;
    assert.deepEqual([tg.Protocol, tg.Port, tg.TargetType, tg.Name], ['TCP', 8787, 'ip', 'oncelink-demo-gw']);
    assert.deepEqual([tg.HealthCheckProtocol, tg.HealthCheckPath, tg.HealthCheckPort, tg.Matcher], ['HTTP', '/_oncelink/healthz', '8787', { HttpCode: '200' }]);
    const attrs = Object.fromEntries(tg.TargetGroupAttributes.map((a: { Key: string; Value: string }) => [a.Key, a.Value]));
    assert.equal(attrs['preserve_client_ip.enabled'], 'false');
    assert.equal(attrs['deregistration_delay.timeout_seconds'], '30');
    const service = only(sealed.t, 'AWS::ECS::Service').props;
    assert.deepEqual(service.LoadBalancers, [{ ContainerName: 'gateway', ContainerPort: 8787, TargetGroupArn: { Ref: idOf(sealed.t, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'OnceLinkStaticIpTargets') } }]);
  });

  test('Global Accelerator: IPv4 (two static IPs), TCP 443, the NLB as the one endpoint, client IP preservation off', () => {
    const t = sealed.t;
    t.hasResourceProperties('AWS::GlobalAccelerator::Accelerator', { Name: 'oncelink-demo', IpAddressType: 'IPV4', Enabled: true });
    const l = only(t, 'AWS::GlobalAccelerator::Listener').props;
    assert.deepEqual([l.Protocol, l.PortRanges], ['TCP', [{ FromPort: 443, ToPort: 443 }]]);
    const g = only(t, 'AWS::GlobalAccelerator::EndpointGroup').props;
    assert.equal(g.EndpointGroupRegion, REGION);
    assert.deepEqual(g.EndpointConfigurations, [{ EndpointId: { Ref: idOf(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer', 'OnceLinkStaticIpNlb') }, ClientIPPreservationEnabled: false }]);
    const outputs = Object.keys(t.findOutputs('*'));
    for (const o of ['PublicUrl', 'StaticIps', 'AcceleratorDnsName', 'TableName', 'BucketName', 'ApiTokenSecretArn']) assert.ok(outputs.some((k) => k.includes(o)), `${o} in ${outputs}`);
    const ips = Object.values(t.findOutputs('*')).find((o) => JSON.stringify(o.Value).includes('Ipv4Addresses'));
    assert.ok(ips, 'StaticIps joins the accelerator\'s Ipv4Addresses');
  });

  test('Route 53: an A alias to the accelerator when a zone is given; none otherwise', () => {
    sealed.t.resourceCountIs('AWS::Route53::RecordSet', 0);
    const b = build('sealed', {}, false, true);
    const r = only(b.t, 'AWS::Route53::RecordSet').props;
    assert.equal(r.Type, 'A');
    assert.equal(r.Name, 'files.example.com.');
    assert.equal(r.HostedZoneId, 'Z0123456789ABC');
    assert.equal(r.AliasTarget.HostedZoneId, GA_ZONE);
    assert.match(JSON.stringify(r.AliasTarget.DNSName), /OnceLinkStaticIpAccelerator.*DnsName/);
    assert.throws(() => build('sealed', { domainName: 'files.example.org' }, false, true), /not in the hosted zone/);
  });
});

describe('the task', () => {
  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    test(`${mode}: Fargate, arm64, awsvpc, read-only root with /data, the image from the repository at the tag`, () => {
      const td = only(b.t, 'AWS::ECS::TaskDefinition').props;
      assert.deepEqual(td.RuntimePlatform, { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
      assert.deepEqual(td.RequiresCompatibilities, ['FARGATE']);
      assert.equal(td.NetworkMode, 'awsvpc');
      assert.equal(td.Family, 'oncelink-demo-gateway');
      assert.deepEqual(td.Volumes, [{ Name: 'data' }]);
      const c = td.ContainerDefinitions[0];
      assert.equal(c.Name, 'gateway');
      assert.equal(c.ReadonlyRootFilesystem, true);
      assert.deepEqual(c.MountPoints, [{ ContainerPath: '/data', ReadOnly: false, SourceVolume: 'data' }]);
      assert.deepEqual(c.PortMappings, [{ ContainerPort: 8787, Name: 'http', Protocol: 'tcp' }]);
      assert.equal(c.StopTimeout, 120);
      assert.match(JSON.stringify(c.Image), /123456789012\.dkr\.ecr\.eu-west-1\..*\/oncelink:0\.1\.0/);
      assert.equal(c.LogConfiguration.LogDriver, 'awslogs');
      assert.deepEqual(c.LogConfiguration.Options['awslogs-group'], { Ref: idOf(b.t, 'AWS::Logs::LogGroup', 'OnceLinkStaticIpGatewayLogs') });
      b.t.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/ecs/oncelink-demo-gateway', RetentionInDays: 365 });
      const service = only(b.t, 'AWS::ECS::Service').props;
      assert.deepEqual([service.LaunchType, service.PlatformVersion, service.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp], ['FARGATE', 'LATEST', 'DISABLED']);
      assert.deepEqual(service.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
      b.t.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'oncelink-demo', ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    });

    test(`${mode}: the gateway's environment (ledger, origin, public URL, limits) and its secrets from Secrets Manager`, () => {
      const c = container(b.t);
      const env = Object.fromEntries(c.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
      assert.deepEqual(env, {
        RUST_LOG: 'info',
        ONCELINK_LISTEN: '0.0.0.0:8787',
        ONCELINK_PUBLIC_URL: 'https://files.example.com',
        ONCELINK_MODE: mode,
        ONCELINK_DATA_DIR: '/data',
        ONCELINK_LEDGER: 'dynamodb',
        ONCELINK_TABLE: { Ref: idOf(b.t, 'AWS::DynamoDB::Table', 'OnceLinkStaticIpLedger') },
        ONCELINK_ORIGIN_ENDPOINT: 'aws',
        ONCELINK_BUCKET: { Ref: idOf(b.t, 'AWS::S3::Bucket', 'OnceLinkStaticIpBucket') },
        ONCELINK_REGION: REGION,
        ONCELINK_DEFAULT_EXPIRES: '900s',
        ONCELINK_MAX_EXPIRES: '604800s',
        ONCELINK_RESUME_WINDOW: '0s',
        ONCELINK_TRUST_FORWARDED_FOR: 'false',
        ONCELINK_SHUTDOWN_TIMEOUT: '90s',
      });
      const secrets = Object.fromEntries(c.Secrets.map((s: { Name: string; ValueFrom: unknown }) => [s.Name, s.ValueFrom]));
      const expected: Record<string, unknown> = { ONCELINK_API_TOKEN: { Ref: idOf(b.t, 'AWS::SecretsManager::Secret', 'OnceLinkStaticIpApiToken') } };
      if (mode === 'sealed') expected.ONCELINK_KEYS = { Ref: idOf(b.t, 'AWS::SecretsManager::Secret', 'OnceLinkStaticIpKeySet') };
      assert.deepEqual(secrets, expected);
      assert.ok(!('ONCELINK_API_TOKEN' in env) && !('ONCELINK_KEYS' in env));
    });

    test(`${mode}: no secret value anywhere in the template; each secret is filled once by keys-init inside AWS`, () => {
      const secrets = Object.entries(b.t.findResources('AWS::SecretsManager::Secret'));
      assert.deepEqual(secrets.map(([, s]) => s.Properties.Name).sort(), mode === 'sealed' ? ['oncelink/demo/api-token', 'oncelink/demo/keys'] : ['oncelink/demo/api-token']);
      const key = idOf(b.t, 'AWS::KMS::Key', 'OnceLinkStaticIpSecretsKey');
      for (const [, s] of secrets) {
        assert.equal(s.Properties.SecretString, undefined);
        assert.equal(s.Properties.GenerateSecretString, undefined, 'empty: keys-init writes the first value');
        assert.deepEqual(s.Properties.KmsKeyId, { 'Fn::GetAtt': [key, 'Arn'] });
      }
      b.t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      const text = JSON.stringify(b.json);
      assert.ok(!text.includes('"active"') && !text.includes('\\"active\\"'), 'no key set JSON');
      const fills = Object.values(b.t.findResources('Custom::OnceLinkSecretValue')).map((r) => r.Properties);
      assert.deepEqual(fills.map((f) => f.SecretId).sort((x, y) => x.Ref.localeCompare(y.Ref)), secrets.map(([id]) => ({ Ref: id })).sort((x, y) => x.Ref.localeCompare(y.Ref)));
      for (const f of fills) assert.deepEqual(Object.keys(f).sort(), ['SecretId', 'ServiceToken']);
      const service = Object.values(b.t.findResources('AWS::ECS::Service'))[0];
      for (const id of Object.keys(b.t.findResources('Custom::OnceLinkSecretValue'))) assert.ok(service.DependsOn.includes(id), 'tasks start after the secrets are filled');
      const fn = Object.values(b.t.findResources('AWS::Lambda::Function')).find((f) => f.Properties.FunctionName === 'oncelink-demo-secrets-init')!;
      assert.deepEqual([fn.Properties.Runtime, fn.Properties.Architectures, fn.Properties.Handler], ['nodejs24.x', ['arm64'], 'index.handler']);
      const hash = JSON.stringify(fn.Properties.Code.S3Key).match(/([0-9a-f]{64})\.zip/)![1];
      assert.deepEqual(fs.readdirSync(path.join(b.app.outdir, `asset.${hash}`)), ['index.mjs'], 'keys-init without its tests');
    });
  }

  test('autoscaling on CPU: 2..6 tasks, target 60 %', () => {
    sealed.t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6, ScalableDimension: 'ecs:service:DesiredCount', ServiceNamespace: 'ecs' });
    sealed.t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' }, TargetValue: 60, ScaleInCooldown: 300, ScaleOutCooldown: 60 },
    });
    sealed.t.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2 });
  });

  test('options reach the environment: expiry bounds, the recovery window', () => {
    const b = build('sealed', { defaultExpiry: Duration.minutes(5), maxExpiry: Duration.days(1), resumeWindow: Duration.minutes(2) });
    const env = Object.fromEntries(container(b.t).Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
    assert.deepEqual([env.ONCELINK_DEFAULT_EXPIRES, env.ONCELINK_MAX_EXPIRES, env.ONCELINK_RESUME_WINDOW], ['300s', '86400s', '120s']);
  });
});

describe('IAM: least privilege', () => {
  for (const [mode, b] of [['sealed', sealed], ['presigned', presigned]] as const) {
    const role = (prefix: string) => idOf(b.t, 'AWS::IAM::Role', prefix);

    test(`${mode}: no wildcard action; Resource "*" only where AWS allows nothing else`, () => {
      const star = new Set<string>();
      for (const { st } of identityStatements(b.t)) {
        for (const a of asList(st.Action)) assert.ok(!a.includes('*'), `wildcard action ${a}`);
        assert.equal(st.Effect, 'Allow');
        if (asList(st.Resource).includes('*')) for (const a of asList(st.Action)) star.add(a);
      }
      assert.deepEqual([...star].sort(), ['ec2:DescribePrefixLists', 'ecr:GetAuthorizationToken']);
    });

    test(`${mode}: task role: the table's GetItem/UpdateItem, the bucket's GetObject/PutObject through the endpoint`, () => {
      const r = role('OnceLinkStaticIpTaskRole');
      assert.deepEqual(actionsOf(b.t, r), ['dynamodb:GetItem', 'dynamodb:UpdateItem', 's3:GetObject', 's3:PutObject']);
      const table = idOf(b.t, 'AWS::DynamoDB::Table', 'OnceLinkStaticIpLedger');
      for (const { st } of identityStatements(b.t).filter((s) => s.role === r)) {
        if (st.Sid === 'Ledger') assert.deepEqual(st.Resource, { 'Fn::GetAtt': [table, 'Arn'] });
        if (st.Sid === 'Objects') {
          assert.match(JSON.stringify(st.Resource), /OnceLinkStaticIpBucket.*\/\*/);
          assert.deepEqual(st.Condition, { StringEquals: { 'aws:SourceVpce': { Ref: idOf(b.t, 'AWS::EC2::VPCEndpoint', 'OnceLinkStaticIpVpcS3Endpoint') } } });
        }
      }
      assert.deepEqual(b.t.toJSON().Resources[r].Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'ecs-tasks.amazonaws.com' });
    });

    test(`${mode}: execution role: pull from the one repository, its log group, the secrets (and their key via Secrets Manager)`, () => {
      const r = role('OnceLinkStaticIpExecutionRole');
      assert.deepEqual(actionsOf(b.t, r), [
        'ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetAuthorizationToken', 'ecr:GetDownloadUrlForLayer',
        'kms:Decrypt', 'logs:CreateLogStream', 'logs:PutLogEvents',
        ...(mode === 'sealed' ? ['secretsmanager:DescribeSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:GetSecretValue'] : ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']),
      ].sort());
      for (const { st } of identityStatements(b.t).filter((s) => s.role === r)) {
        const actions = asList(st.Action);
        if (actions.includes('ecr:BatchGetImage')) assert.equal(st.Resource, `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/oncelink`);
        if (actions.includes('kms:Decrypt')) assert.deepEqual(st.Condition, { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } });
        if (actions.includes('secretsmanager:GetSecretValue')) assert.match(JSON.stringify(st.Resource), /OnceLinkStaticIp(ApiToken|KeySet)/);
      }
    });

    test(`${mode}: secrets-init may only describe and fill the two secrets`, () => {
      const r = role('OnceLinkStaticIpSecretsInitRole');
      assert.deepEqual(actionsOf(b.t, r), ['kms:Decrypt', 'kms:GenerateDataKey', 'logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue']);
      const st = identityStatements(b.t).find((s) => s.role === r && s.st.Sid === 'Secrets')!.st;
      assert.equal(asList(st.Resource).length, mode === 'sealed' ? 2 : 1);
    });
  }
});

describe('input checks', () => {
  test('names, domains, tags and repository URIs are checked at synth', () => {
    assert.throws(() => build('sealed', { deploymentName: 'a-name-that-is-too-long' }), /≤ 20/);
    assert.throws(() => build('sealed', { deploymentName: 'demo-' }), /deploymentName/);
    assert.throws(() => build('sealed', { domainName: 'https://files.example.com' }), /domainName/);
    assert.throws(() => build('sealed', { imageTag: 'bad tag' }), /imageTag/);
    assert.throws(() => build('sealed', { minTasks: 3, maxTasks: 2 }), /minTasks/);
    const stack = new Stack(new App(), 'R', { env: { account: ACCOUNT, region: REGION } });
    const repo = repositoryFromUri(stack, 'Ok', '210987654321.dkr.ecr.us-west-2.amazonaws.com/team/oncelink');
    assert.equal(repo.repositoryArn, 'arn:aws:ecr:us-west-2:210987654321:repository/team/oncelink');
    assert.equal(repo.repositoryName, 'team/oncelink');
    assert.throws(() => repositoryFromUri(stack, 'Bad', 'docker.io/library/oncelink'), /not an ECR repository URI/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  for (const [mode, zone] of [['sealed', false], ['presigned', false], ['sealed', true]] as const) {
    test(`${mode}${zone ? ' with a hosted zone' : ''}: zero unacknowledged findings (synth fails on any)`, () => {
      const b = build(mode, {}, true, zone);
      assert.doesNotThrow(() => b.app.synth());
      const report = JSON.parse(fs.readFileSync(path.join(b.app.outdir, 'validation-report.json'), 'utf8'));
      assert.deepEqual(report.pluginReports, []);
    });
  }
});

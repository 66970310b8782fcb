// OnceLinkStaticIp: the oncelink gateway on ECS Fargate (arm64) behind a Network Load Balancer,
// with Global Accelerator in front: two static IPv4 addresses and one domain for the API, the web
// page and the links (the AWS Prescriptive Guidance pattern "S3 presigned URLs behind static IPs",
// with the gateway in place of API Gateway + Lambda, so the one-time rule is enforced there).
//
//   viewer ─► 2 static IPs (Global Accelerator, TCP 443)
//          ─► NLB (internet-facing, public subnets; TLS 443, ACM certificate; SG: 443 in, 8787 out)
//          ─► Fargate tasks (oncelink serve on :8787, isolated subnets; SG: 8787 from the NLB only)
//          ─► DynamoDB (gateway endpoint)  ·  S3 (gateway endpoint; the bucket admits the task role
//             only through it)  ·  ECR, CloudWatch Logs, Secrets Manager (interface endpoints)
//
// The tasks' subnets have no route to the internet at all: every AWS API they use is a VPC
// endpoint. The Terraform module infra/terraform/modules/oncelink-static-ip builds the same
// resources with the same names; tests/infra/test_crosscheck_static_ip.py keeps the two in step.
import { CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as ga from 'aws-cdk-lib/aws-globalaccelerator';
import * as gaEndpoints from 'aws-cdk-lib/aws-globalaccelerator-endpoints';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ack, KEYS_INIT_DIR, ledgerTable, type OnceLinkMode, privateBucket } from './common';

/** The port `oncelink serve` listens on in the image (ONCELINK_LISTEN=0.0.0.0:8787). */
export const GATEWAY_PORT = 8787;
/** The port viewers use (Global Accelerator and the NLB's TLS listener). */
export const PUBLIC_PORT = 443;
/** The gateway's health answer, for the target group's health check. */
export const HEALTH_PATH = '/_oncelink/healthz';
/** Where the image keeps its data dir (nothing durable there with the DynamoDB ledger and AWS S3). */
export const DATA_DIR = '/data';
export const CONTAINER_NAME = 'gateway';

export interface OnceLinkStaticIpProps {
  /** Names the deployment: `oncelink-<name>-*` resources, `oncelink/<name>/*` secrets. `[a-z0-9-]`, ≤ 20 (load balancer names are ≤ 32). */
  readonly deploymentName: string;
  /** The one domain viewers and the app use, e.g. `files.example.com`; the gateway runs with `--public-url https://<domain>`. */
  readonly domainName: string;
  /** ACM certificate for `domainName`, in the stack's region (it is attached to the NLB's TLS listener). */
  readonly certificate: acm.ICertificate;
  /** A public hosted zone that holds `domainName`: an A alias to the accelerator is created. Default: none (point the name at the two IPs yourself). */
  readonly hostedZone?: route53.IHostedZone;
  /** The ECR repository of the gateway image (an image that runs `oncelink serve`, arm64). */
  readonly imageRepository: ecr.IRepository;
  /** The image tag to run. */
  readonly imageTag: string;
  /** `sealed` (default) or `presigned`. */
  readonly mode?: OnceLinkMode;
  /** An existing bucket in this region. Default: a new one (private, TLS only, SSE-S3, versioned). With your own bucket, add the two statements of infra/README.md to its policy. */
  readonly bucket?: s3.IBucket;
  /** Link lifetime when a request names none. Default 15 minutes. */
  readonly defaultExpiry?: Duration;
  /** Upper bound for `expires_in`. Default 7 days. */
  readonly maxExpiry?: Duration;
  /**
   * How long after its first use a link's first client may recover a cut-off download
   * (`--resume-window`). Default 0 (off): behind a TLS listener the gateway sees the NLB's
   * address, not the viewer's, so "the same client" is the User-Agent alone (infra/README.md).
   */
  readonly resumeWindow?: Duration;
  /** Task size. Default 512 CPU units, 1024 MiB. */
  readonly cpu?: number;
  readonly memoryLimitMiB?: number;
  /** Tasks: at least (default 2, one per AZ), at most (default 6). */
  readonly minTasks?: number;
  readonly maxTasks?: number;
  /** Average CPU the service scales to. Default 60 %. */
  readonly cpuTargetPercent?: number;
  /** VPC address range (two /24 public subnets for the NLB, two /24 isolated ones for the tasks). Default 10.80.0.0/16. */
  readonly vpcCidr?: string;
  /** Table, bucket and secrets' KMS key removal. Default RETAIN (the ledger is what makes links one-time). */
  readonly removalPolicy?: RemovalPolicy;
}

/** An ECR repository from its URI (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), for least-privilege pull rights. */
export function repositoryFromUri(scope: Construct, id: string, uri: string): ecr.IRepository {
  const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\/([a-z0-9][a-z0-9._\/-]*)$/.exec(uri);
  if (!m) throw new Error(`not an ECR repository URI: ${uri} (want <account>.dkr.ecr.<region>.amazonaws.com/<name>)`);
  const [, account, region, cn, name] = m;
  const partition = cn ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return ecr.Repository.fromRepositoryAttributes(scope, id, {
    repositoryName: name,
    repositoryArn: `arn:${partition}:ecr:${region}:${account}:repository/${name}`,
  });
}

export class OnceLinkStaticIp extends Construct {
  public readonly mode: OnceLinkMode;
  public readonly table: dynamodb.Table;
  public readonly bucket: s3.IBucket;
  public readonly vpc: ec2.Vpc;
  public readonly loadBalancer: elbv2.NetworkLoadBalancer;
  public readonly accelerator: ga.Accelerator;
  public readonly service: ecs.FargateService;
  public readonly taskRole: iam.Role;
  public readonly executionRole: iam.Role;
  public readonly apiTokenSecret: secretsmanager.Secret;
  public readonly keySetSecret?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: OnceLinkStaticIpProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const name = props.deploymentName;
    if (!/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/.test(name)) throw new Error(`deploymentName must match [a-z0-9][a-z0-9-]{0,18}[a-z0-9] (≤ 20: load balancer and target group names), got ${name}`);
    if (Token.isUnresolved(stack.region)) throw new Error('OnceLinkStaticIp needs a stack with an explicit region (VPC endpoints and the ECR layer bucket are regional)');
    const domain = props.domainName;
    if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) throw new Error(`domainName must be a lower-case DNS name, got ${domain}`);
    const mode = (this.mode = props.mode ?? 'sealed');
    if (mode !== 'sealed' && mode !== 'presigned') throw new Error(`mode must be sealed or presigned, got ${mode}`);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(props.imageTag)) throw new Error(`imageTag is not a valid tag: ${props.imageTag}`);
    const defaultExpiry = props.defaultExpiry ?? Duration.minutes(15);
    const maxExpiry = props.maxExpiry ?? Duration.days(7);
    if (defaultExpiry.toSeconds() < 1 || defaultExpiry.toSeconds() > maxExpiry.toSeconds()) throw new Error('defaultExpiry must be at least 1 s and at most maxExpiry');
    if (maxExpiry.toSeconds() > 604800) throw new Error('maxExpiry must be at most 7 days');
    const resumeWindow = props.resumeWindow ?? Duration.seconds(0);
    const minTasks = props.minTasks ?? 2;
    const maxTasks = props.maxTasks ?? 6;
    if (minTasks < 1 || maxTasks < minTasks) throw new Error('need 1 <= minTasks <= maxTasks');
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const region = stack.region;
    if (props.hostedZone && !Token.isUnresolved(props.hostedZone.zoneName)) {
      const zone = props.hostedZone.zoneName.replace(/\.$/, '');
      if (domain !== zone && !domain.endsWith(`.${zone}`)) throw new Error(`domainName ${domain} is not in the hosted zone ${zone}`);
    }

    // ---- ledger and bucket: the same as OnceLink's ----------------------------------------
    this.table = ledgerTable(this, name, removalPolicy);
    const ownBucket = !props.bucket;
    this.bucket = props.bucket ?? privateBucket(this, removalPolicy);

    // ---- network: public subnets for the NLB only, isolated subnets for the tasks ---------
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      logGroupName: `/vpc/oncelink-${name}-flow-logs`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      vpcName: `oncelink-${name}`,
      ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr ?? '10.80.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    const tasksSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

    const nlbSg = new ec2.SecurityGroup(this, 'NlbSecurityGroup', {
      vpc: this.vpc,
      securityGroupName: `oncelink-${name}-nlb`,
      description: `oncelink ${name}: the NLB (TLS ${PUBLIC_PORT} in, the gateway port out)`,
      allowAllOutbound: false,
    });
    const taskSg = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      securityGroupName: `oncelink-${name}-tasks`,
      description: `oncelink ${name}: the gateway tasks (${GATEWAY_PORT} from the NLB only; HTTPS to VPC endpoints only)`,
      allowAllOutbound: false,
    });
    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      securityGroupName: `oncelink-${name}-endpoints`,
      description: `oncelink ${name}: interface VPC endpoints (HTTPS from the gateway tasks only)`,
      allowAllOutbound: false,
    });
    // Global Accelerator cannot preserve the client IP for an NLB with a TLS listener, so the
    // NLB sees Global Accelerator's edge addresses; AWS publishes no managed prefix list of them.
    nlbSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(PUBLIC_PORT), 'TLS from Global Accelerator (sources are its edge addresses)');
    nlbSg.addEgressRule(taskSg, ec2.Port.tcp(GATEWAY_PORT), 'to the gateway tasks (traffic and health checks)');
    taskSg.addIngressRule(nlbSg, ec2.Port.tcp(GATEWAY_PORT), 'the gateway port, from the NLB only');
    taskSg.addEgressRule(endpointSg, ec2.Port.tcp(443), 'ECR, CloudWatch Logs, Secrets Manager interface endpoints');
    endpointSg.addIngressRule(taskSg, ec2.Port.tcp(443), 'HTTPS from the gateway tasks');
    ack(nlbSg, 'AwsSolutions-EC23', 'Port 443 only, for Global Accelerator: with a TLS listener it cannot preserve client IPs, so the sources are its edge addresses, for which AWS publishes no managed prefix list. The tasks behind accept only the NLB.');

    // Gateway endpoints: S3 (objects, and the ECR image layers) and DynamoDB (the ledger), with
    // policies that name exactly what the gateway may reach through them.
    const s3Endpoint = this.vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [tasksSubnets] });
    s3Endpoint.addToPolicy(new iam.PolicyStatement({
      sid: 'EcrImageLayers',
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:GetObject'],
      resources: [`arn:${stack.partition}:s3:::prod-${region}-starport-layer-bucket/*`],
    }));
    // The task role is created below; the endpoint policies name it (ECR's layer URLs are presigned
    // by ECR, so the statement above cannot).
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `oncelink ${name}: the gateway (ledger items, objects through the S3 endpoint)`,
    });
    s3Endpoint.addToPolicy(new iam.PolicyStatement({
      sid: 'Objects',
      principals: [taskRole],
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [this.bucket.arnForObjects('*')],
    }));
    const dynamoEndpoint = this.vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [tasksSubnets] });
    dynamoEndpoint.addToPolicy(new iam.PolicyStatement({
      sid: 'Ledger',
      principals: [taskRole],
      actions: LEDGER_ACTIONS,
      resources: [this.table.tableArn],
    }));
    for (const [idPart, service] of [
      ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ] as const) {
      this.vpc.addInterfaceEndpoint(`${idPart}Endpoint`, { service, subnets: tasksSubnets, securityGroups: [endpointSg], privateDnsEnabled: true, open: false });
    }
    // The gateway endpoints' prefix lists (region specific; CloudFormation does not expose them
    // on the endpoint), read once per deploy, so the tasks' egress names S3 and DynamoDB only.
    for (const [idPart, svc] of [['S3', 's3'], ['DynamoDb', 'dynamodb']] as const) {
      const lookup = new cr.AwsCustomResource(this, `${idPart}PrefixList`, {
        onUpdate: {
          service: 'EC2',
          action: 'describePrefixLists',
          parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${region}.${svc}`] }] },
          physicalResourceId: cr.PhysicalResourceId.of(`com.amazonaws.${region}.${svc}`),
          outputPaths: ['PrefixLists.0.PrefixListId'],
        },
        policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['ec2:DescribePrefixLists'], resources: ['*'] })]),
        installLatestAwsSdk: false,
      });
      ack(lookup, 'AwsSolutions-IAM5[Resource::*]', 'ec2:DescribePrefixLists supports no resource-level permission; it is the only action, called once per deploy.');
      taskSg.addEgressRule(ec2.Peer.prefixList(lookup.getResponseField('PrefixLists.0.PrefixListId')), ec2.Port.tcp(443), `${svc === 's3' ? 'S3' : 'DynamoDB'} through its gateway endpoint`);
    }
    const provider = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (provider) {
      ack(provider, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'CDK\'s AwsCustomResource provider (reads the two prefix list ids once per deploy) only writes its own logs with it; its EC2 call is in its own policy.');
    }

    // ---- secrets: created empty, filled inside AWS by keys-init --------------------------
    const secretsKey = new kms.Key(this, 'SecretsKey', {
      description: `oncelink ${name}: encrypts the gateway's secrets (API token, sealed key set)`,
      enableKeyRotation: true,
      removalPolicy,
    });
    const emptySecret = (idPart: string, what: string, description: string) => {
      const secret = new secretsmanager.Secret(this, idPart, {
        secretName: `oncelink/${name}/${what}`,
        description,
        encryptionKey: secretsKey,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // No GenerateSecretString: an empty secret; keys-init writes the first value.
      (secret.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
      ack(secret, 'AwsSolutions-SMG4', what === 'keys'
        ? 'The key set rotates by adding a key and keeping the old one until its links expire (infra/README.md); a rotation Lambda replacing the value would invalidate every issued link.'
        : 'The API token is shared with the app that issues links; rotating it is a coordinated change (infra/README.md), not a schedule.');
      return secret;
    };
    this.apiTokenSecret = emptySecret('ApiToken', 'api-token', `oncelink ${name}: the gateway's API token (ONCELINK_API_TOKEN)`);
    if (mode === 'sealed') this.keySetSecret = emptySecret('KeySet', 'keys', `oncelink ${name}: the sealed-link key set (ONCELINK_KEYS)`);
    const secrets = [this.apiTokenSecret, ...(this.keySetSecret ? [this.keySetSecret] : [])];
    const filled = this.secretsInit(name, secrets, secretsKey);

    // ---- roles ---------------------------------------------------------------------------
    this.taskRole = taskRole;
    this.taskRole.addToPolicy(new iam.PolicyStatement({ sid: 'Ledger', actions: LEDGER_ACTIONS, resources: [this.table.tableArn] }));
    this.taskRole.addToPolicy(new iam.PolicyStatement({
      sid: 'Objects',
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [this.bucket.arnForObjects('*')],
      conditions: { StringEquals: { 'aws:SourceVpce': s3Endpoint.vpcEndpointId } },
    }));
    const bucketArn = ownBucket
      ? `<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`
      : `arn:<AWS::Partition>:s3:::${this.bucket.bucketName}`;
    ack(this.taskRole, `AwsSolutions-IAM5[Resource::${bucketArn}/*]`,
      'The gateway reads and writes the objects links name, chosen at run time; GetObject/PutObject only, and only through this VPC\'s S3 endpoint.');
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `oncelink ${name}: starts the gateway tasks (image pull, logs, the two secrets)`,
    });

    // ---- the task ------------------------------------------------------------------------
    const logGroup = new logs.LogGroup(this, 'GatewayLogs', {
      logGroupName: `/ecs/oncelink-${name}-gateway`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      family: `oncelink-${name}-gateway`,
      cpu: props.cpu ?? 512,
      memoryLimitMiB: props.memoryLimitMiB ?? 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: this.taskRole,
      executionRole: this.executionRole,
      volumes: [{ name: 'data' }],
    });
    const container = taskDefinition.addContainer('Gateway', {
      containerName: CONTAINER_NAME,
      image: ecs.ContainerImage.fromEcrRepository(props.imageRepository, props.imageTag),
      essential: true,
      readonlyRootFilesystem: true,
      stopTimeout: Duration.seconds(120),
      portMappings: [{ containerPort: GATEWAY_PORT, protocol: ecs.Protocol.TCP, name: 'http' }],
      environment: gatewayEnvironment({
        domain, mode, table: this.table.tableName, bucket: this.bucket.bucketName, region,
        defaultExpiry, maxExpiry, resumeWindow,
      }),
      secrets: {
        ONCELINK_API_TOKEN: ecs.Secret.fromSecretsManager(this.apiTokenSecret),
        ...(this.keySetSecret ? { ONCELINK_KEYS: ecs.Secret.fromSecretsManager(this.keySetSecret) } : {}),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'gateway' }),
    });
    container.addMountPoints({ sourceVolume: 'data', containerPath: DATA_DIR, readOnly: false });
    ack(taskDefinition, 'AwsSolutions-ECS2', 'The environment holds configuration only (domain, table, bucket, region, limits); the API token and the key set come from Secrets Manager through the container\'s secrets.');
    // CDK's Secret grant puts this in the key policy; stated on the role as well, as Terraform does.
    this.executionRole.addToPolicy(new iam.PolicyStatement({
      sid: 'DecryptSecrets',
      actions: ['kms:Decrypt'],
      resources: [secretsKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
    }));
    ack(this.executionRole, 'AwsSolutions-IAM5[Resource::*]', 'ecr:GetAuthorizationToken supports no resource-level permission; the pull actions themselves are granted on the one image repository.');

    // ---- cluster and service ---------------------------------------------------------------
    const cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: `oncelink-${name}`,
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.service = new ecs.FargateService(this, 'Service', {
      serviceName: `oncelink-${name}-gateway`,
      cluster,
      taskDefinition,
      desiredCount: minTasks,
      assignPublicIp: false,
      vpcSubnets: tasksSubnets,
      securityGroups: [taskSg],
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(30),
    });
    this.service.node.addDependency(...filled);

    // ---- NLB: TLS with the ACM certificate, plain HTTP to the tasks ------------------------
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      loadBalancerName: `oncelink-${name}`,
      vpc: this.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [nlbSg],
      crossZoneEnabled: true,
    });
    ack(this.loadBalancer, 'AwsSolutions-ELB2', 'The gateway writes one access line per request (request id, decision, status, settled use) to CloudWatch Logs; NLB access logs would need a second bucket and hold only connection data.');
    const targets = new elbv2.NetworkTargetGroup(this, 'Targets', {
      targetGroupName: `oncelink-${name}-gw`,
      vpc: this.vpc,
      port: GATEWAY_PORT,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      // The NLB's own address is the source: the task SG admits the NLB's SG, nothing else.
      preserveClientIp: false,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        path: HEALTH_PATH,
        port: String(GATEWAY_PORT),
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    targets.addTarget(this.service.loadBalancerTarget({ containerName: CONTAINER_NAME, containerPort: GATEWAY_PORT }));
    this.loadBalancer.addListener('Tls', {
      port: PUBLIC_PORT,
      protocol: elbv2.Protocol.TLS,
      certificates: [elbv2.ListenerCertificate.fromCertificateManager(props.certificate)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      alpnPolicy: elbv2.AlpnPolicy.HTTP1_ONLY,
      defaultTargetGroups: [targets],
    });

    // ---- autoscaling on CPU ----------------------------------------------------------------
    const scaling = this.service.autoScaleTaskCount({ minCapacity: minTasks, maxCapacity: maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      policyName: `oncelink-${name}-cpu`,
      targetUtilizationPercent: props.cpuTargetPercent ?? 60,
      // Scale in slowly: a stopped task drains its downloads for up to ONCELINK_SHUTDOWN_TIMEOUT.
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    // ---- Global Accelerator: the two static IPs ---------------------------------------------
    this.accelerator = new ga.Accelerator(this, 'Accelerator', {
      acceleratorName: `oncelink-${name}`,
      ipAddressType: ga.IpAddressType.IPV4,
      enabled: true,
    });
    const gaListener = this.accelerator.addListener('Listener', {
      listenerName: `oncelink-${name}`,
      protocol: ga.ConnectionProtocol.TCP,
      portRanges: [{ fromPort: PUBLIC_PORT, toPort: PUBLIC_PORT }],
      clientAffinity: ga.ClientAffinity.NONE,
    });
    gaListener.addEndpointGroup('Region', {
      // Not supported for an NLB with a TLS listener (Global Accelerator API reference).
      endpoints: [new gaEndpoints.NetworkLoadBalancerEndpoint(this.loadBalancer, { preserveClientIp: false })],
    });

    if (props.hostedZone) {
      new route53.ARecord(this, 'Alias', {
        zone: props.hostedZone,
        recordName: `${domain}.`,
        target: route53.RecordTarget.fromAlias(new route53Targets.GlobalAcceleratorTarget(this.accelerator)),
        comment: `oncelink ${name}: the two static IPs of the accelerator`,
      });
    }

    // ---- bucket policy: the task role only, only through the S3 endpoint ---------------------
    if (ownBucket) {
      this.bucket.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'GatewayThroughEndpoint',
        principals: [this.taskRole],
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:SourceVpce': s3Endpoint.vpcEndpointId } },
      }));
      // The task role's credentials are worthless outside this VPC (and so are presigned URLs
      // it signs: S3 honours them only when the gateway forwards them through the endpoint).
      this.bucket.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'GatewayRoleOnlyThroughEndpoint',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          StringNotEquals: { 'aws:SourceVpce': s3Endpoint.vpcEndpointId },
          ArnEquals: { 'aws:PrincipalArn': this.taskRole.roleArn },
        },
      }));
    }

    // ---- outputs -----------------------------------------------------------------------------
    new CfnOutput(this, 'PublicUrl', { value: `https://${domain}`, description: 'the API (/_oncelink/links), the web page (/_oncelink/) and the links' });
    new CfnOutput(this, 'StaticIps', { value: Fn.join(',', (this.accelerator.node.defaultChild as ga.CfnAccelerator).attrIpv4Addresses), description: 'the two static IPv4 addresses (A records of the domain; customers allow-list these)' });
    new CfnOutput(this, 'AcceleratorDnsName', { value: this.accelerator.dnsName, description: 'the accelerator\'s own DNS name (a CNAME target for the domain)' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'the ledger' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'objects to link' });
    new CfnOutput(this, 'ApiTokenSecretArn', { value: this.apiTokenSecret.secretArn, description: 'where the API token is (read it with secretsmanager get-secret-value)' });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName, description: 'the ECS cluster' });
    new CfnOutput(this, 'ServiceName', { value: this.service.serviceName, description: 'the gateway service' });
  }

  /** One Lambda (keys-init) and one custom resource per secret: the first value is generated inside AWS. */
  private secretsInit(name: string, secrets: secretsmanager.Secret[], key: kms.Key): CustomResource[] {
    const fnName = `oncelink-${name}-secrets-init`;
    const logGroup = new logs.LogGroup(this, 'SecretsInitLogs', { logGroupName: `/aws/lambda/${fnName}`, retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'SecretsInitRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'oncelink: fills the gateway\'s empty secrets' });
    role.addToPolicy(new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'Secrets', actions: ['secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'], resources: secrets.map((s) => s.secretArn) }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'EncryptSecrets',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
    }));
    const fn = new lambda.Function(this, 'SecretsInit', {
      functionName: fnName,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(KEYS_INIT_DIR, { exclude: ['test'] }),
      timeout: Duration.seconds(30),
      memorySize: 128,
      role,
      logGroup,
      description: 'oncelink: generates the gateway\'s API token and key set in Secrets Manager (custom resource)',
    });
    return secrets.map((secret) => {
      const res = new CustomResource(this, `${secret.node.id}Value`, {
        serviceToken: fn.functionArn,
        resourceType: 'Custom::OnceLinkSecretValue',
        properties: { SecretId: secret.secretArn },
      });
      return res;
    });
  }
}

/** The gateway's item calls on the ledger (shared/src/ledger/dynamodb: UpdateItem and GetItem, nothing else). */
export const LEDGER_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];

/** The container's plain environment: configuration only, never a secret. */
export function gatewayEnvironment(c: {
  domain: string; mode: OnceLinkMode; table: string; bucket: string; region: string;
  defaultExpiry: Duration; maxExpiry: Duration; resumeWindow: Duration;
}): Record<string, string> {
  return {
    RUST_LOG: 'info',
    ONCELINK_LISTEN: `0.0.0.0:${GATEWAY_PORT}`,
    ONCELINK_PUBLIC_URL: `https://${c.domain}`,
    ONCELINK_MODE: c.mode,
    ONCELINK_DATA_DIR: DATA_DIR,
    ONCELINK_LEDGER: 'dynamodb',
    ONCELINK_TABLE: c.table,
    ONCELINK_ORIGIN_ENDPOINT: 'aws',
    ONCELINK_BUCKET: c.bucket,
    ONCELINK_REGION: c.region,
    ONCELINK_DEFAULT_EXPIRES: `${c.defaultExpiry.toSeconds()}s`,
    ONCELINK_MAX_EXPIRES: `${c.maxExpiry.toSeconds()}s`,
    ONCELINK_RESUME_WINDOW: `${c.resumeWindow.toSeconds()}s`,
    // The NLB adds no X-Forwarded-For: the header a viewer sends must never be believed.
    ONCELINK_TRUST_FORWARDED_FOR: 'false',
    // ECS stops a task with SIGTERM, then SIGKILL after stopTimeout (120 s): drain first.
    ONCELINK_SHUTDOWN_TIMEOUT: '90s',
  };
}


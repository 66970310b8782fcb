// OnceLink: everything one oncelink deployment needs, least privilege throughout.
//
//   viewer ─► CloudFront ─(viewer request)──► Lambda@Edge shim (Node.js, us-east-1)
//                │   ▲                            │ lambda:Invoke (sync, 3 s budget, fails closed)
//                │   └(origin response ≥ 300)─────┤ (gives the use back; fails open on the response)
//                │                                ▼
//                │                       viewer-request (Rust, provided.al2023 arm64, home region)
//                │                                │ SSM GetParameters + DynamoDB conditional write
//                ▼
//              S3 (sealed: OAC + bucket policy for this distribution only; presigned: query auth)
//   app ─► HTTP API (IAM or JWT) ─► issue-url (Rust) ─► link
//   ledger ─(DynamoDB stream)─► ledger-events (Rust) ─► EventBridge (link.used, …); failed batches ─► SQS DLQ
//   CloudWatch: alarms (home region; the edge 5xx alarm in us-east-1) and the dashboard oncelink-<name>
//
// The Terraform module in infra/terraform builds the same resources with the same names and
// policies; tests/infra/test_crosscheck.py keeps the two in step.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { Arn, ArnFormat, CfnOutput, CrossStackReferences, CustomResource, Duration, Fn, ReferenceStrength, RemovalPolicy, Stack, Stage, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ack, KEYS_INIT_DIR, ledgerTable, type OnceLinkMode, privateBucket, REPO_ROOT } from './common';

export type { OnceLinkMode };

/** How callers of the issue API authenticate. */
export type IssuerAuth =
  | { readonly kind: 'iam' }
  | { readonly kind: 'jwt'; readonly issuer: string; readonly audience: string[] };

/** Alarm thresholds and where the alarms notify. Every alarm is created; only its action is optional. */
export interface OnceLinkAlarmProps {
  /** An existing SNS topic in the home region that the home-region alarms notify. */
  readonly topicArn?: string;
  /** An existing SNS topic in us-east-1 for the edge 5xx alarm (CloudFront's metrics, hence the alarm, live there). */
  readonly edgeTopicArn?: string;
  /** Create `oncelink-<name>-alarms` (home region) and `oncelink-<name>-edge-alarms` (us-east-1), each KMS-encrypted, for whichever ARN is not given. Default false: alarms without an action. */
  readonly createTopics?: boolean;
  /** Denials (sum of `Decisions` with `Decision=deny`) per `denialPeriod` above which `oncelink-<name>-denial-spike` fires. Default 100. */
  readonly denialThreshold?: number;
  /** The period the denials are summed over. Default 5 minutes. */
  readonly denialPeriod?: Duration;
  /** CloudFront `5xxErrorRate` (percent, average over 5 minutes, two periods in a row) above which `oncelink-<name>-edge-5xx` fires. Default 5. */
  readonly edge5xxRatePercent?: number;
}

/** What the EventBridge events look like (the ledger-events function's contract). */
export const EVENT_SOURCE = 'oncelink';
export const EVENT_DETAIL_TYPES = ['link.used', 'link.exhausted', 'link.revoked', 'link.refused'];

export interface OnceLinkProps {
  /** Names the deployment: SSM prefix `/oncelink/<name>`, function and table names. `[a-z0-9-]`, ≤ 32. */
  readonly deploymentName: string;
  /** `sealed` (default; S3 only reachable through CloudFront) or `presigned`. */
  readonly mode?: OnceLinkMode;
  /** An existing bucket. Default: a new one (block public access, TLS only, SSE-S3). */
  readonly bucket?: s3.IBucket;
  /** Alternate domain for the distribution, with its ACM certificate (which must live in us-east-1). */
  readonly cdn?: { readonly domainName: string; readonly certificate: acm.ICertificate };
  /** Expiry when the request names none. Default 15 minutes. */
  readonly defaultExpiry?: Duration;
  /** Upper bound for `expires_in`. Default 7 days (SigV4's limit). */
  readonly maxExpiry?: Duration;
  /** Only keys under this prefix can be linked, e.g. `shared/`. Default: the whole bucket. */
  readonly keyPrefix?: string;
  /** Browser origins allowed to call the issue API. Default: none (server-to-server). */
  readonly corsOrigins?: string[];
  /** Default: IAM (SigV4-signed calls, `execute-api:Invoke`). */
  readonly issuerAuth?: IssuerAuth;
  /** Requests per 5 minutes per client IP at CloudFront (AWS WAF rate-based rule). Default: no WAF. */
  readonly wafRateLimit?: number;
  /** Only these client CIDRs (IPv4 and IPv6, e.g. `203.0.113.0/24`, `2001:db8::/32`) may reach CloudFront; WAF blocks every other address. Alone or with `wafRateLimit` (one web ACL). Default: no allow list. */
  readonly wafAllowedCidrs?: string[];
  /** An existing EventBridge bus (ARN) for the link events. Default: a new bus `oncelink-<name>`. */
  readonly eventBusArn?: string;
  /** Alarm thresholds and actions. */
  readonly alarms?: OnceLinkAlarmProps;
  /** Where `cargo lambda build --release --arm64 --output-format zip` put the zips. Default `<repo>/target/lambda`. */
  readonly artifactsDir?: string;
  /** Sealed mode: create the key set with a custom resource (default true). false = run `oncelink keys init` yourself. */
  readonly createKeySet?: boolean;
  /** Link-preview user agents that get an empty 200 without spending a use. Default: the validator's list. */
  readonly previewUserAgents?: string[];
  /** How long the edge shim waits for the validator. Default 3 s (viewer requests allow 5 s). */
  readonly edgeInvokeTimeout?: Duration;
  /** Table/bucket/key removal. Default RETAIN (the ledger is what makes links one-time). */
  readonly removalPolicy?: RemovalPolicy;
}

const EDGE_SHIM_DIR = path.join(REPO_ROOT, 'infra', 'edge-shim');
/** The dashboard body, shared with the Terraform module (templatefile) so both draw the same one. */
export const DASHBOARD_TEMPLATE = path.join(REPO_ROOT, 'infra', 'monitoring', 'dashboard.json.tftpl');
/** The header the validator adds to the request it lets through: the link id, for the give-back on origin response. */
export const LINK_HEADER = 'x-oncelink-link';
/** Files of infra/edge-shim that go into the Lambda@Edge zip (tests and docs stay out). */
export const EDGE_SHIM_FILES = ['index.mjs', 'shim.mjs'];

/** Writes the shim with its generated config.mjs into a fresh directory and returns it. */
export function stageEdgeShim(functionArn: string, region: string, timeoutMs: number): string {
  const config = `// Generated at synth time: Lambda@Edge has no environment variables.\nexport default ${JSON.stringify({ functionArn, region, timeoutMs }, null, 2)};\n`;
  const hash = crypto.createHash('sha256').update(config);
  for (const f of EDGE_SHIM_FILES) hash.update(fs.readFileSync(path.join(EDGE_SHIM_DIR, f)));
  const dir = path.join(os.tmpdir(), `oncelink-edge-shim-${hash.digest('hex').slice(0, 16)}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of EDGE_SHIM_FILES) fs.copyFileSync(path.join(EDGE_SHIM_DIR, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'config.mjs'), config);
  return dir;
}

/** Splits CIDRs into IPv4 and IPv6 (WAF keeps them in separate IP sets); refuses anything else. */
export function splitCidrs(cidrs: string[]): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const c of cidrs) {
    const m4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(c);
    if (m4 && m4.slice(1, 5).every((o) => Number(o) <= 255) && Number(m4[5]) <= 32) { v4.push(c); continue; }
    const m6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(c);
    if (m6 && m6[1].includes(':') && Number(m6[2]) <= 128) { v6.push(c); continue; }
    throw new Error(`wafAllowedCidrs: ${c} is not an IPv4 or IPv6 CIDR (address/prefix)`);
  }
  return { v4, v6 };
}

export class OnceLink extends Construct {
  public readonly mode: OnceLinkMode;
  public readonly ssmPrefix: string;
  public readonly table: dynamodb.Table;
  public readonly bucket: s3.IBucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly api: apigw.HttpApi;
  public readonly issueUrlFunction: lambda.Function;
  public readonly viewerRequestFunction: lambda.Function;
  public readonly ledgerEventsFunction: lambda.Function;
  public readonly eventsDeadLetterQueue: sqs.Queue;
  /** The bus the link events go to: the ARN of the one created here or of `eventBusArn`. */
  public readonly eventBusArn: string;
  public readonly dashboard: cloudwatch.CfnDashboard;
  /** Every alarm by its short name (`ledger-errors`, `config-errors`, `denial-spike`, `event-delivery`, `edge-5xx`). */
  public readonly alarms: Record<string, cloudwatch.CfnAlarm> = {};
  public readonly edgeShim: cloudfront.experimental.EdgeFunction;
  public readonly keySetKey?: kms.Key;

  constructor(scope: Construct, id: string, props: OnceLinkProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const name = props.deploymentName;
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) throw new Error(`deploymentName must match [a-z0-9][a-z0-9-]{0,31}, got ${name}`);
    if (Token.isUnresolved(stack.region) || Token.isUnresolved(stack.account)) {
      throw new Error('OnceLink needs a stack with an explicit env (account and region): the edge shim bakes in the validator ARN');
    }
    const mode = (this.mode = props.mode ?? 'sealed');
    if (mode !== 'sealed' && mode !== 'presigned') throw new Error(`mode must be sealed or presigned, got ${mode}`);
    const keyPrefix = props.keyPrefix ?? '';
    if (keyPrefix.startsWith('/') || keyPrefix.includes('*')) throw new Error('keyPrefix must not start with / or contain *');
    const defaultExpiry = props.defaultExpiry ?? Duration.minutes(15);
    const maxExpiry = props.maxExpiry ?? Duration.days(7);
    if (defaultExpiry.toSeconds() > maxExpiry.toSeconds()) throw new Error('defaultExpiry exceeds maxExpiry');
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const artifactsDir = props.artifactsDir ?? path.join(REPO_ROOT, 'target', 'lambda');
    const corsOrigins = props.corsOrigins ?? [];
    const issuerAuth: IssuerAuth = props.issuerAuth ?? { kind: 'iam' };
    const prefix = (this.ssmPrefix = `/oncelink/${name}`);
    const paramArn = (suffix: string) => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `oncelink/${name}/${suffix}` });
    const ownParameterArns = ['table-name', 'edge-config', 'keys'].map(paramArn);

    // ---- ledger ---------------------------------------------------------------------------
    this.table = ledgerTable(this, name, removalPolicy, dynamodb.StreamViewType.NEW_AND_OLD_IMAGES);

    // ---- bucket ---------------------------------------------------------------------------
    const ownBucket = !props.bucket;
    this.bucket = props.bucket ?? privateBucket(this, removalPolicy);

    // ---- SSM parameters the validator reads -------------------------------------------------
    new ssm.StringParameter(this, 'TableNameParam', {
      parameterName: `${prefix}/table-name`,
      stringValue: this.table.tableName,
      description: 'oncelink: the ledger table',
    });

    if (mode === 'sealed') {
      this.keySetKey = new kms.Key(this, 'KeySetKey', {
        description: `oncelink ${name}: encrypts the sealed-link key set (SSM SecureString ${prefix}/keys)`,
        enableKeyRotation: true,
        removalPolicy,
      });
      if (props.createKeySet ?? true) this.createKeySet(name, prefix, paramArn('keys'), this.keySetKey, removalPolicy);
    }

    // ---- Rust functions (provided.al2023, arm64) ------------------------------------------
    const rustZip = (fn: string) => {
      const zip = path.join(artifactsDir, fn, 'bootstrap.zip');
      if (!fs.existsSync(zip)) throw new Error(`missing ${zip}: run tests/infra/build-zips.sh (cargo lambda build --release --arm64 --output-format zip)`);
      return lambda.Code.fromAsset(zip);
    };

    const viewerRequestName = `oncelink-${name}-viewer-request`;
    this.viewerRequestFunction = this.rustFunction('ViewerRequest', viewerRequestName, rustZip('viewer-request'), {
      ONCELINK_SSM_PREFIX: prefix,
      ONCELINK_HOME_REGION: stack.region,
    }, Duration.seconds(3), 512);
    this.viewerRequestFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'Ledger',
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem'],
      resources: [this.table.tableArn],
    }));
    this.viewerRequestFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'Config',
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resources: ownParameterArns,
    }));

    const issueUrlName = `oncelink-${name}-issue-url`;
    this.issueUrlFunction = this.rustFunction('IssueUrl', issueUrlName, rustZip('issue-url'), {
      ONCELINK_BUCKET: this.bucket.bucketName,
      ONCELINK_REGION: this.bucket.env.region,
      ONCELINK_CDN_DOMAIN: props.cdn?.domainName ?? 'pending', // replaced below once the distribution exists
      ONCELINK_DEFAULT_EXPIRES_SECS: String(defaultExpiry.toSeconds()),
      ONCELINK_MAX_EXPIRES_SECS: String(maxExpiry.toSeconds()),
      ONCELINK_KEY_PREFIX: keyPrefix,
      ONCELINK_CORS_ORIGINS: corsOrigins.join(','),
      ONCELINK_MODE: mode,
      ONCELINK_SSM_PREFIX: prefix, // the table name is read from SSM there, like the validator does
    }, Duration.seconds(10), 256);
    if (mode === 'presigned') {
      // Presigned links are signed with this role's credentials: it may only read/write the prefix.
      this.issueUrlFunction.addToRolePolicy(new iam.PolicyStatement({
        sid: 'SignLinks',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects(`${keyPrefix}*`)],
      }));
      const bucketArn = ownBucket
        ? `<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`
        : `arn:<AWS::Partition>:s3:::${this.bucket.bucketName}`;
      ack(this.issueUrlFunction.role!, `AwsSolutions-IAM5[Resource::${bucketArn}/${keyPrefix}*]`,
        'Object keys are chosen per link at run time; the grant is GetObject/PutObject under the allowed key prefix only.');
    }
    // The link routes: revoke and tag (UpdateItem), a link's state and trail (GetItem).
    this.issueUrlFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'Links',
      actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
      resources: [this.table.tableArn],
    }));
    this.issueUrlFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'Config',
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resources: ownParameterArns,
    }));
    if (this.keySetKey) {
      for (const fn of [this.viewerRequestFunction, this.issueUrlFunction]) {
        fn.addToRolePolicy(new iam.PolicyStatement({
          sid: 'DecryptKeySet',
          actions: ['kms:Decrypt'],
          resources: [this.keySetKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` } },
        }));
      }
    }

    // ---- link events: ledger stream ─► ledger-events ─► EventBridge ------------------------
    // Every ledger change (a use, the last use, a revocation, a refusal recorded) becomes one
    // event with Source "oncelink". Failed records are retried (bisected, bounded); what still
    // fails goes to an encrypted DLQ, and the event-delivery alarm watches all three signals.
    const bus = props.eventBusArn ? undefined : new events.EventBus(this, 'EventBus', {
      eventBusName: `oncelink-${name}`,
      description: `oncelink ${name}: link events (${EVENT_DETAIL_TYPES.join(', ')})`,
    });
    this.eventBusArn = props.eventBusArn ?? bus!.eventBusArn;
    const ledgerEventsName = `oncelink-${name}-ledger-events`;
    this.eventsDeadLetterQueue = new sqs.Queue(this, 'LedgerEventsDlq', {
      queueName: `${ledgerEventsName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    ack(this.eventsDeadLetterQueue, 'AwsSolutions-SQS3', 'This queue is the dead-letter destination itself (on-failure destination of the ledger stream mapping); a DLQ of a DLQ would only move the same records again.');
    this.ledgerEventsFunction = this.rustFunction('LedgerEvents', ledgerEventsName, rustZip('ledger-events'), {
      ONCELINK_EVENT_BUS: this.eventBusArn,
    }, Duration.seconds(30), 256);
    // The shape AWS documents for a Lambda function reading a table's stream: the four stream
    // actions on <table>/stream/* (the stream label changes if the stream is ever re-enabled).
    this.ledgerEventsFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'ReadStream',
      actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
      resources: [`${this.table.tableArn}/stream/*`],
    }));
    ack(this.ledgerEventsFunction.role!, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.table.node.defaultChild as dynamodb.CfnTable)}.Arn>/stream/*]`,
      'The streams of the ledger table only (AWS documents <table>/stream/* for Lambda stream readers; the stream label is not known before the table exists and changes if the stream is re-enabled).');
    this.ledgerEventsFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'PublishEvents',
      actions: ['events:PutEvents'],
      resources: [this.eventBusArn],
      conditions: { StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': EVENT_DETAIL_TYPES } },
    }));
    this.ledgerEventsFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'DeadLetter',
      actions: ['sqs:SendMessage'],
      resources: [this.eventsDeadLetterQueue.queueArn],
    }));
    const mapping = new lambda.CfnEventSourceMapping(this, 'LedgerEventsMapping', {
      functionName: this.ledgerEventsFunction.functionName,
      eventSourceArn: this.table.tableStreamArn!,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 100,
      maximumBatchingWindowInSeconds: 1,
      parallelizationFactor: 1,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 5,
      maximumRecordAgeInSeconds: 3600,
      functionResponseTypes: ['ReportBatchItemFailures'],
      destinationConfig: { onFailure: { destination: this.eventsDeadLetterQueue.queueArn } },
    });
    // Lambda checks the role when the mapping is created: the policy must exist first.
    mapping.node.addDependency(this.ledgerEventsFunction.role!);

    // ---- the edge: Node.js shim in us-east-1 that invokes the regional validator ------------
    // One function on two events: viewer request (claims a use) and origin response (gives it
    // back when the origin refused). Both invoke the same regional function, so one grant.
    const validatorArn = stack.formatArn({ service: 'lambda', resource: 'function', resourceName: viewerRequestName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    // The shim's copy must be a plain string (no CloudFormation token can reach a zip file).
    const partition = stack.region.startsWith('cn-') ? 'aws-cn' : stack.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
    const validatorArnLiteral = `arn:${partition}:lambda:${stack.region}:${stack.account}:function:${viewerRequestName}`;
    const shimName = `oncelink-${name}-edge-shim`;
    const edgeStack = this.edgeStack(stack);
    const shimRole = new iam.Role(edgeStack, `${id}${name}EdgeShimRole`, {
      assumedBy: new iam.CompositePrincipal(new iam.ServicePrincipal('lambda.amazonaws.com'), new iam.ServicePrincipal('edgelambda.amazonaws.com')),
      description: `oncelink ${name}: Lambda@Edge viewer-request and origin-response shim`,
    });
    shimRole.addToPolicy(new iam.PolicyStatement({
      sid: 'InvokeValidator',
      actions: ['lambda:InvokeFunction'],
      resources: [validatorArn],
    }));
    shimRole.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      // Replicas log in the region that served the viewer, to /aws/lambda/us-east-1.<name>.
      resources: [`arn:${stack.partition}:logs:*:${stack.account}:log-group:/aws/lambda/us-east-1.${shimName}:*`],
    }));
    ack(shimRole, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:*:' + stack.account + `:log-group:/aws/lambda/us-east-1.${shimName}:*]`,
      'Lambda@Edge replicas write logs in whichever region served the viewer, so the region must be a wildcard; the log group is this shim only.');
    const timeoutMs = (props.edgeInvokeTimeout ?? Duration.seconds(3)).toMilliseconds();
    if (timeoutMs >= 5000) throw new Error('edgeInvokeTimeout must stay under the 5 s viewer-request limit');
    this.edgeShim = new cloudfront.experimental.EdgeFunction(this, 'EdgeShim', {
      stackId: edgeStack === stack ? undefined : edgeStack.stackName,
      functionName: shimName,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.X86_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(stageEdgeShim(validatorArnLiteral, stack.region, timeoutMs)),
      memorySize: 128,
      timeout: Duration.seconds(5),
      role: shimRole,
      description: `oncelink ${name}: forwards viewer requests (fails closed) and origin refusals to ${viewerRequestName}`,
    });

    // ---- CloudFront -------------------------------------------------------------------------
    // Presigned: no OAC/OAI, S3 checks the query signature. Sealed: OAC (always sign), attached
    // below; the bucket policy is written here, scoped to the key prefix, not the origin's bucket/*.
    const s3Origin = origins.S3BucketOrigin.withBucketDefaults(this.bucket);
    const oac =
      mode === 'sealed'
        ? new cloudfront.S3OriginAccessControl(this, 'OriginAccessControl', {
            originAccessControlName: `oncelink-${name}`,
            description: 'oncelink sealed mode: CloudFront signs every origin request',
            signing: cloudfront.Signing.SIGV4_ALWAYS,
          })
        : undefined;
    // Presigned: Managed-AllViewerExceptHostHeader forwards every viewer header. A header a
    // viewer-request function adds is judged by the origin request policy like one the viewer
    // sent (AWS: add it to an allow-list to forward it), so x-oncelink-link is forwarded here
    // too; infra/README.md has the source and what is not verified without a deployment.
    const originRequestPolicy =
      mode === 'presigned'
        ? cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER
        : new cloudfront.OriginRequestPolicy(this, 'SealedOriginRequest', {
            originRequestPolicyName: `oncelink-${name}-sealed`,
            comment: 'oncelink sealed: forward what S3 needs (response-* overrides, upload headers), never viewer credentials',
            queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
            // x-oncelink-link: set by the validator on the request it lets through; the
            // origin-response event carries the origin request, and the give-back needs it.
            headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList('Content-Type', 'Content-MD5', 'x-amz-content-sha256', 'Origin', 'Access-Control-Request-Method', 'Access-Control-Request-Headers', LINK_HEADER),
            cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
          });
    const responseHeadersPolicy = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      responseHeadersPolicyName: `oncelink-${name}-security`,
      comment: 'oncelink: security headers; no-referrer keeps link tokens out of Referer',
      securityHeadersBehavior: {
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
        contentSecurityPolicy: { contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'; sandbox", override: true },
      },
    });

    const allowedCidrs = props.wafAllowedCidrs ?? [];
    const webAclArn = props.wafRateLimit || allowedCidrs.length ? this.webAcl(edgeStack, stack, name, props.wafRateLimit, allowedCidrs) : undefined;

    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: `oncelink ${name} (${mode})`,
      defaultBehavior: {
        origin: s3Origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy,
        responseHeadersPolicy,
        compress: false,
        edgeLambdas: [
          { eventType: cloudfront.LambdaEdgeEventType.VIEWER_REQUEST, functionVersion: this.edgeShim.currentVersion, includeBody: false },
          // A use is spent on delivery: a refusal from S3 (status >= 300) gives it back.
          { eventType: cloudfront.LambdaEdgeEventType.ORIGIN_RESPONSE, functionVersion: this.edgeShim.currentVersion },
        ],
      },
      domainNames: props.cdn ? [props.cdn.domainName] : undefined,
      certificate: props.cdn?.certificate,
      minimumProtocolVersion: props.cdn ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_ALL,
      webAclId: webAclArn,
      enableIpv6: true,
    });
    ack(this.distribution, 'AwsSolutions-CFR1', 'Links are shared with arbitrary recipients; geo restriction is a business decision left to the deployer.');
    ack(this.distribution, 'AwsSolutions-CFR3', 'Every link use is recorded (first_used_at, request id) in the ledger; standard logs would need an ACL-enabled log bucket.');
    if (!webAclArn) ack(this.distribution, 'AwsSolutions-CFR2', 'WAF is opt-in (wafRateLimit, wafAllowedCidrs); the edge validator already refuses invalid links before any origin access.');
    if (!props.cdn) ack(this.distribution, 'AwsSolutions-CFR4', 'Without a custom domain CloudFront serves *.cloudfront.net, whose TLS policy cannot be chosen; set cdn to enforce TLSv1.2_2021.');
    ack(this.distribution, 'AwsSolutions-CFR7', mode === 'presigned'
      ? 'Presigned mode: S3 authenticates the SigV4 query string; OAC would add an Authorization header and S3 rejects two auth mechanisms.'
      : 'Sealed mode has OAC: attached by a property override below (cdk-nag cannot see overrides); test/oncelink.test.ts asserts it.');

    if (oac) {
      (this.distribution.node.defaultChild as cloudfront.CfnDistribution).addPropertyOverride(
        'DistributionConfig.Origins.0.OriginAccessControlId', oac.originAccessControlId);
      if (ownBucket) {
        // Only this distribution, only the allowed prefix, only GET/PUT.
        this.bucket.addToResourcePolicy(new iam.PolicyStatement({
          sid: 'OnlyThisDistribution',
          principals: [new iam.ServicePrincipal('cloudfront.amazonaws.com')],
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [this.bucket.arnForObjects(`${keyPrefix}*`)],
          conditions: { StringEquals: { 'AWS:SourceArn': this.distribution.distributionArn } },
        }));
      }
    }

    // ---- issue API --------------------------------------------------------------------------
    this.issueUrlFunction.addEnvironment('ONCELINK_CDN_DOMAIN', props.cdn?.domainName ?? this.distribution.distributionDomainName);
    new ssm.StringParameter(this, 'EdgeConfigParam', {
      parameterName: `${prefix}/edge-config`,
      stringValue: stack.toJsonString({
        mode,
        cdn_domain: props.cdn?.domainName ?? this.distribution.distributionDomainName,
        ...(props.previewUserAgents ? { preview_user_agents: props.previewUserAgents } : {}),
      }),
      description: 'oncelink: edge configuration (JSON)',
    });

    const authorizer =
      issuerAuth.kind === 'jwt'
        ? new authorizers.HttpJwtAuthorizer('JwtAuthorizer', issuerAuth.issuer, { jwtAudience: issuerAuth.audience })
        : new authorizers.HttpIamAuthorizer();
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `oncelink-${name}`,
      description: 'oncelink: issue, list and revoke one-time links',
      createDefaultStage: false,
      corsPreflight: corsOrigins.length
        ? {
            allowOrigins: corsOrigins,
            allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.DELETE],
            allowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token'],
            maxAge: Duration.hours(1),
          }
        : undefined,
    });
    const apiLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy });
    new apigw.HttpStage(this, 'ApiStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(apiLogs) },
    });
    const integration = new integrations.HttpLambdaIntegration('IssueUrl', this.issueUrlFunction, {
      payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
    });
    this.api.addRoutes({ path: '/links', methods: [apigw.HttpMethod.POST, apigw.HttpMethod.GET], integration, authorizer });
    this.api.addRoutes({ path: '/links/{id}', methods: [apigw.HttpMethod.DELETE], integration, authorizer });

    // ---- alarms and the dashboard ------------------------------------------------------------
    this.dashboard = this.monitoring(stack, edgeStack, name, ledgerEventsName, props.alarms ?? {});

    // ---- outputs ----------------------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'issue API base URL (POST /links)' });
    new CfnOutput(this, 'CdnDomain', { value: props.cdn?.domainName ?? this.distribution.distributionDomainName, description: 'links are served from here' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'the ledger' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'objects to link' });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBusArn, description: 'link events (Source oncelink) are published here' });
    new CfnOutput(this, 'EventsDlqUrl', { value: this.eventsDeadLetterQueue.queueUrl, description: 'stream batches the ledger-events function gave up on' });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName!, description: 'the CloudWatch dashboard (home region)' });
  }

  /**
   * The alarms (infra/README.md, Alarms and dashboard: what each means, what to do) and the dashboard.
   * The EMF metrics carry no deployment dimension, so Metrics Insights queries sum over every
   * function of the namespace; the edge 5xx alarm lives in us-east-1 with CloudFront's metrics.
   */
  private monitoring(stack: Stack, edgeStack: Stack, name: string, ledgerEventsName: string, opts: OnceLinkAlarmProps): cloudwatch.CfnDashboard {
    const denialThreshold = opts.denialThreshold ?? 100;
    const denialPeriod = (opts.denialPeriod ?? Duration.minutes(5)).toSeconds();
    const edge5xx = opts.edge5xxRatePercent ?? 5;
    if (!(denialThreshold >= 0)) throw new Error('alarms.denialThreshold must be >= 0');
    if (![10, 30].includes(denialPeriod) && !(denialPeriod >= 60 && denialPeriod % 60 === 0)) throw new Error('alarms.denialPeriod must be 10 s, 30 s or a multiple of 60 s');
    if (!(edge5xx > 0 && edge5xx <= 100)) throw new Error('alarms.edge5xxRatePercent must be in (0, 100]');

    const homeTopic = opts.topicArn ?? (opts.createTopics ? this.alarmTopic(this, 'AlarmTopic', `oncelink-${name}-alarms`, name).topicArn : undefined);
    // The edge alarm needs a stack in us-east-1 that is deployed after this one (it reads the
    // distribution id): this stack if it is there already, else <stack>-edge-alarms.
    const alarmEdgeStack = stack.region === 'us-east-1' ? stack : this.edgeAlarmStack(stack);
    const edgeScope: Construct = alarmEdgeStack === stack ? this : alarmEdgeStack;
    const edgeTopic = opts.edgeTopicArn ?? (opts.createTopics ? this.alarmTopic(edgeScope, alarmEdgeStack === stack ? 'EdgeAlarmTopic' : `${name}EdgeAlarmTopic`, `oncelink-${name}-edge-alarms`, name).topicArn : undefined);

    const actions = (arn?: string) => (arn ? { alarmActions: [arn], okActions: [arn] } : {});
    const insights = (id: string, query: string, period: number): cloudwatch.CfnAlarm.MetricDataQueryProperty => ({ id, expression: query, period, returnData: true });
    const common = { comparisonOperator: 'GreaterThanThreshold', treatMissingData: 'notBreaching', ...actions(homeTopic) };
    const alarm = (short: string, p: Omit<cloudwatch.CfnAlarmProps, 'alarmName'>, scope: Construct = this, id?: string) => {
      this.alarms[short] = new cloudwatch.CfnAlarm(scope, id ?? `Alarm${short.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase())}`, { alarmName: `oncelink-${name}-${short}`, ...p });
    };

    alarm('ledger-errors', {
      ...common,
      alarmDescription: 'oncelink: a decision or API call could not reach the ledger (DynamoDB) and failed closed. Check DynamoDB health/throttling and the validator logs.',
      metrics: [insights('q1', 'SELECT SUM(LedgerErrors) FROM SCHEMA(oncelink, Function)', 300)],
      evaluationPeriods: 1, threshold: 0,
    });
    alarm('config-errors', {
      ...common,
      alarmDescription: 'oncelink: the configuration (SSM parameters, key set) could not be loaded and requests failed closed. Check the SSM parameters under /oncelink/' + name + ' and the role grants.',
      metrics: [insights('q1', 'SELECT SUM(ConfigErrors) FROM SCHEMA(oncelink, Function)', 300)],
      evaluationPeriods: 1, threshold: 0,
    });
    alarm('denial-spike', {
      ...common,
      alarmDescription: `oncelink: more than ${denialThreshold} denied link requests in ${denialPeriod} s. See the dashboard's denials by reason (replayed links, bad signatures, expired links).`,
      metrics: [insights('q1', "SELECT SUM(Decisions) FROM SCHEMA(oncelink, Decision, Function, Reason) WHERE Decision = 'deny'", denialPeriod)],
      evaluationPeriods: 1, threshold: denialThreshold,
    });
    alarm('event-delivery', {
      ...common,
      alarmDescription: 'oncelink: link events are not being delivered: EventBridge refused entries (EventPublishFailures), the ledger-events function failed (Errors), or records were given up into the DLQ. See infra/README.md.',
      metrics: [
        { id: 'failures', returnData: false, metricStat: { metric: { namespace: 'oncelink', metricName: 'EventPublishFailures', dimensions: [{ name: 'Function', value: 'ledger-events' }] }, period: 300, stat: 'Sum' } },
        { id: 'errors', returnData: false, metricStat: { metric: { namespace: 'AWS/Lambda', metricName: 'Errors', dimensions: [{ name: 'FunctionName', value: ledgerEventsName }] }, period: 300, stat: 'Sum' } },
        { id: 'dlq', returnData: false, metricStat: { metric: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: [{ name: 'QueueName', value: `${ledgerEventsName}-dlq` }] }, period: 300, stat: 'Maximum' } },
        { id: 'total', returnData: true, label: 'publish failures + function errors + DLQ messages', expression: 'FILL(failures, 0) + FILL(errors, 0) + FILL(dlq, 0)' },
      ],
      evaluationPeriods: 1, threshold: 0,
    });
    alarm('edge-5xx', {
      comparisonOperator: 'GreaterThanThreshold', treatMissingData: 'notBreaching', ...actions(edgeTopic),
      alarmDescription: `oncelink: more than ${edge5xx} % of CloudFront responses were 5xx for 10 minutes (503 validator_unavailable/failed from the shim, or S3). Check the shim's edge logs and the validator.`,
      namespace: 'AWS/CloudFront', metricName: '5xxErrorRate',
      dimensions: [{ name: 'DistributionId', value: this.distribution.distributionId }, { name: 'Region', value: 'Global' }],
      statistic: 'Average', period: 300, evaluationPeriods: 2, datapointsToAlarm: 2, threshold: edge5xx,
    }, edgeScope, alarmEdgeStack === stack ? undefined : `${name}AlarmEdge5xx`);

    // One dashboard body for both tools: infra/monitoring/dashboard.json.tftpl (${Var} is both
    // Fn::Sub's and templatefile()'s syntax).
    const body = fs.readFileSync(DASHBOARD_TEMPLATE, 'utf8');
    return new cloudwatch.CfnDashboard(this, 'Dashboard', {
      dashboardName: `oncelink-${name}`,
      dashboardBody: Fn.sub(body, {
        Name: name,
        Region: stack.region,
        DistributionId: this.distribution.distributionId,
        LedgerEventsFunction: ledgerEventsName,
        DeadLetterQueue: `${ledgerEventsName}-dlq`,
      }),
    });
  }

  /** The us-east-1 stack that holds the edge 5xx alarm; it reads the distribution id across regions. */
  private edgeAlarmStack(stack: Stack): Stack {
    const stage = Stage.of(this) ?? (stack.node.root as Stage);
    const id = `${stack.stackName}-edge-alarms`;
    const existing = stage.node.tryFindChild(id) as Stack | undefined;
    if (existing) return existing;
    const s = new Stack(stage, id, {
      env: { account: stack.account, region: 'us-east-1' },
      crossRegionReferences: true,
      description: `oncelink alarms for ${stack.stackName} that must live in us-east-1 (CloudFront metrics)`,
    });
    // Strong (ExportWriter/ExportReader custom resources): the distribution id cannot be removed
    // from the home stack while this alarm still reads it.
    CrossStackReferences.of(s).consume(ReferenceStrength.STRONG);
    return s;
  }

  /** An SNS topic for alarm actions: its own KMS key (CloudWatch may use it), TLS only, only this deployment's alarms may publish. */
  private alarmTopic(scope: Construct, id: string, topicName: string, name: string): sns.Topic {
    const stack = Stack.of(scope);
    const key = new kms.Key(scope, `${id}Key`, {
      description: `oncelink ${name}: encrypts the alarm topic ${topicName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'], // in a key policy, "*" is this key
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }));
    const topic = new sns.Topic(scope, id, { topicName, displayName: `oncelink ${name} alarms`, masterKey: key, enforceSSL: true });
    topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:oncelink-${name}-*` },
        StringEquals: { 'aws:SourceAccount': stack.account },
      },
    }));
    return topic;
  }

  /** A Rust function with its own role, log group (1 year) and nothing else. */
  private rustFunction(id: string, functionName: string, code: lambda.Code, environment: Record<string, string>, timeout: Duration, memorySize: number): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `oncelink: ${functionName}`,
    });
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'Logs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`${logGroup.logGroupArn}`],
    }));
    // logGroupArn (Fn::GetAtt) ends in ":*": the streams of this function's own group only.
    return new lambda.Function(this, id, {
      functionName,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code,
      environment: { RUST_LOG: 'info', ...environment },
      timeout,
      memorySize,
      role,
      logGroup,
      description: `oncelink ${functionName}`,
    });
  }

  /** The stack in us-east-1 that holds the Lambda@Edge shim (and the WAF ACL): this one if it is there already. */
  private edgeStack(stack: Stack): Stack {
    if (stack.region === 'us-east-1') return stack;
    const stage = Stage.of(this) ?? (stack.node.root as Stage);
    const id = `${stack.stackName}-edge`;
    return (stage.node.tryFindChild(id) as Stack | undefined) ??
      new Stack(stage, id, { env: { account: stack.account, region: 'us-east-1' }, description: `oncelink edge resources for ${stack.stackName} (Lambda@Edge and WAF must live in us-east-1)` });
  }

  /**
   * The CloudFront-scope WAF ACL in us-east-1, read back by ARN: a per-IP rate-based rule
   * (wafRateLimit) and/or an allow list (wafAllowedCidrs: every other address is blocked). The
   * ACL keeps its first name, `oncelink-<name>-rate-limit`, whatever it holds: renaming would
   * replace it, and the old ACL cannot be deleted while the distribution still uses it.
   */
  private webAcl(edgeStack: Stack, stack: Stack, name: string, limit: number | undefined, allowedCidrs: string[]): string {
    const rules: wafv2.CfnWebACL.RuleProperty[] = [];
    if (limit) {
      rules.push({
        name: 'per-ip-rate-limit',
        priority: 0,
        action: { block: {} },
        statement: { rateBasedStatement: { limit, aggregateKeyType: 'IP' } },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `oncelink-${name}-rate`, sampledRequestsEnabled: true },
      });
    }
    if (allowedCidrs.length) {
      const { v4, v6 } = splitCidrs(allowedCidrs);
      // Both sets always exist (an IP set may be empty), so the rule has one shape.
      const v4Set = new wafv2.CfnIPSet(edgeStack, `${name}AllowV4`, {
        name: `oncelink-${name}-allow-v4`, scope: 'CLOUDFRONT', ipAddressVersion: 'IPV4', addresses: v4,
        description: `oncelink ${name}: IPv4 clients allowed to reach CloudFront`,
      });
      const v6Set = new wafv2.CfnIPSet(edgeStack, `${name}AllowV6`, {
        name: `oncelink-${name}-allow-v6`, scope: 'CLOUDFRONT', ipAddressVersion: 'IPV6', addresses: v6,
        description: `oncelink ${name}: IPv6 clients allowed to reach CloudFront`,
      });
      rules.push({
        name: 'not-in-allow-list',
        priority: 1,
        action: { block: {} },
        statement: {
          notStatement: {
            statement: {
              orStatement: {
                statements: [
                  { ipSetReferenceStatement: { arn: v4Set.attrArn } },
                  { ipSetReferenceStatement: { arn: v6Set.attrArn } },
                ],
              },
            },
          },
        },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `oncelink-${name}-allow-list`, sampledRequestsEnabled: true },
      });
    }
    const acl = new wafv2.CfnWebACL(edgeStack, `${name}RateLimitAcl`, {
      name: `oncelink-${name}-rate-limit`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `oncelink-${name}`, sampledRequestsEnabled: true },
      rules,
    });
    if (edgeStack === stack) return acl.attrArn;
    // Cross-region: publish the ARN in us-east-1 SSM, read it from here with a custom resource.
    const paramName = `/oncelink/${name}/waf-acl-arn`;
    new ssm.StringParameter(edgeStack, `${name}WafAclArnParam`, { parameterName: paramName, stringValue: acl.attrArn });
    const reader = new cr.AwsCustomResource(this, 'WafAclArnReader', {
      onUpdate: {
        service: 'SSM',
        action: 'getParameter',
        parameters: { Name: paramName },
        region: 'us-east-1',
        physicalResourceId: cr.PhysicalResourceId.of(paramName),
      },
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({
        resources: [Arn.format({ service: 'ssm', region: 'us-east-1', resource: 'parameter', resourceName: paramName.slice(1) }, stack)],
      }),
      installLatestAwsSdk: false,
    });
    stack.addStackDependency(edgeStack);
    const singleton = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (singleton) {
      ack(singleton, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'CDK\'s AwsCustomResource provider (reads the WAF ACL ARN from us-east-1 once per deploy) only needs to write its own logs; its SSM read is scoped to one parameter.');
    }
    return reader.getResponseField('Parameter.Value');
  }

  /** Sealed mode: the key set is generated inside AWS by a small custom resource, never in the template. */
  private createKeySet(name: string, prefix: string, keysArn: string, key: kms.Key, removalPolicy: RemovalPolicy) {
    const fnName = `oncelink-${name}-keys-init`;
    const logGroup = new logs.LogGroup(this, 'KeysInitLogs', { logGroupName: `/aws/lambda/${fnName}`, retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'KeysInitRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'oncelink: creates the sealed-link key set' });
    role.addToPolicy(new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'KeySet', actions: ['ssm:PutParameter', 'ssm:DeleteParameter'], resources: [keysArn] }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'EncryptKeySet',
      actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `ssm.${Stack.of(this).region}.amazonaws.com` } },
    }));
    const fn = new lambda.Function(this, 'KeysInit', {
      functionName: fnName,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(KEYS_INIT_DIR, { exclude: ['test'] }),
      timeout: Duration.seconds(30),
      memorySize: 128,
      role,
      logGroup,
      description: 'oncelink: generates the sealed-link key set in SSM (custom resource)',
    });
    new CustomResource(this, 'KeySet', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::OnceLinkKeySet',
      properties: { ParameterName: `${prefix}/keys`, KmsKeyId: key.keyArn, RetainOnDelete: String(removalPolicy === RemovalPolicy.RETAIN) },
    });
  }
}

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
//
// The Terraform module in infra/terraform builds the same resources with the same names and
// policies; tests/infra/test_crosscheck.py keeps the two in step.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { Arn, ArnFormat, CfnOutput, CustomResource, Duration, RemovalPolicy, Stack, Stage, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
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

export class OnceLink extends Construct {
  public readonly mode: OnceLinkMode;
  public readonly ssmPrefix: string;
  public readonly table: dynamodb.Table;
  public readonly bucket: s3.IBucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly api: apigw.HttpApi;
  public readonly issueUrlFunction: lambda.Function;
  public readonly viewerRequestFunction: lambda.Function;
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
    this.table = ledgerTable(this, name, removalPolicy);

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
    this.issueUrlFunction.addToRolePolicy(new iam.PolicyStatement({
      sid: 'Revoke',
      actions: ['dynamodb:UpdateItem'],
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

    const webAclArn = props.wafRateLimit ? this.rateLimitAcl(edgeStack, stack, name, props.wafRateLimit) : undefined;

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
    if (!webAclArn) ack(this.distribution, 'AwsSolutions-CFR2', 'WAF is opt-in (wafRateLimit); the edge validator already refuses invalid links before any origin access.');
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

    // ---- outputs ----------------------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'issue API base URL (POST /links)' });
    new CfnOutput(this, 'CdnDomain', { value: props.cdn?.domainName ?? this.distribution.distributionDomainName, description: 'links are served from here' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'the ledger' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'objects to link' });
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

  /** A CloudFront-scope WAF ACL with one rate-based rule, in us-east-1, read back by ARN. */
  private rateLimitAcl(edgeStack: Stack, stack: Stack, name: string, limit: number): string {
    const acl = new wafv2.CfnWebACL(edgeStack, `${name}RateLimitAcl`, {
      name: `oncelink-${name}-rate-limit`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `oncelink-${name}`, sampledRequestsEnabled: true },
      rules: [{
        name: 'per-ip-rate-limit',
        priority: 0,
        action: { block: {} },
        statement: { rateBasedStatement: { limit, aggregateKeyType: 'IP' } },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `oncelink-${name}-rate`, sampledRequestsEnabled: true },
      }],
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

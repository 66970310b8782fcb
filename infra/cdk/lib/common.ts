// What both deployments (OnceLink: CloudFront + Lambda@Edge; OnceLinkStaticIp: Global
// Accelerator + NLB + Fargate) create the same way: the ledger table, the private bucket, and the
// cdk-nag acknowledgement helper. The ids are the ones OnceLink always used ('Ledger', 'Bucket'),
// so moving the code here changed no logical id.
import * as path from 'node:path';
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export type OnceLinkMode = 'sealed' | 'presigned';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The initialiser that generates secrets inside AWS (SSM for OnceLink, Secrets Manager for OnceLinkStaticIp). */
export const KEYS_INIT_DIR = path.join(REPO_ROOT, 'infra', 'keys-init');

/** Acknowledges one cdk-nag finding on `scope`, with the reason it is acceptable. */
export function ack(scope: Construct, id: string, reason: string) {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * The ledger: `pk` (S) only, TTL `expires_at`, on-demand, PITR, AWS-managed encryption. `stream`:
 * a DynamoDB stream (OnceLink's link events read NEW_AND_OLD_IMAGES; OnceLinkStaticIp has none).
 */
export function ledgerTable(scope: Construct, name: string, removalPolicy: RemovalPolicy, stream?: dynamodb.StreamViewType): dynamodb.Table {
  return new dynamodb.Table(scope, 'Ledger', {
    stream,
    tableName: `oncelink-${name}-ledger`,
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'expires_at',
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
  });
}

/** A new private bucket: public access blocked, TLS only (≥ 1.2), SSE-S3, versioned, bucket owner enforced. */
export function privateBucket(scope: Construct, removalPolicy: RemovalPolicy): s3.Bucket {
  const bucket = new s3.Bucket(scope, 'Bucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    encryption: s3.BucketEncryption.S3_MANAGED,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    removalPolicy,
    autoDeleteObjects: false,
  });
  ack(bucket, 'AwsSolutions-S1', 'Every link use is recorded in the ledger table (first_used_at, request ids); S3 server access logs would need a second bucket per deployment. Enable them on the bucket you pass in if your audit needs them.');
  return bucket;
}

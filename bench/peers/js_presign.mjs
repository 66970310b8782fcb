// Peer: AWS SDK for JavaScript v3 getSignedUrl, timed like oncelink's own issuing loop.
//
// usage: node js_presign.mjs BUCKET KEY REGION EXPIRES ACCESS_KEY SECRET_KEY WARMUP_SECS BUDGET_SECS
// Prints one JSON line: {"iterations", "seconds", "sample", "version"}. The client is built once;
// the warm-up is not counted; then as many calls as the warm-up rate says fit the budget. Calls
// are awaited one after the other (one core, like the other peers).
import { readFileSync } from "node:fs";
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const [bucket, key, region, expires, accessKeyId, secretAccessKey, warmUp, budget] = process.argv.slice(2);
const client = new S3Client({ region, credentials: { accessKeyId, secretAccessKey } });
const expiresIn = Number(expires);
const call = () => getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn });

const now = () => Number(process.hrtime.bigint()) / 1e9;
let started = now();
let warmCalls = 0;
let sample = "";
while (now() - started < Number(warmUp) || warmCalls === 0) {
  sample = await call();
  warmCalls += 1;
}
const rate = warmCalls / (now() - started);
const iterations = Math.max(1, Math.floor(rate * Number(budget)));
const timed = now();
for (let i = 0; i < iterations; i++) {
  await call();
}
const seconds = now() - timed;
const pkg = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
console.log(JSON.stringify({
  iterations, seconds, sample,
  version: `@aws-sdk/client-s3 ${pkg("@aws-sdk/client-s3")}, @aws-sdk/s3-request-presigner ${pkg("@aws-sdk/s3-request-presigner")}, Node ${process.versions.node}`,
}));

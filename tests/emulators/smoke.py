#!/usr/bin/env python3
"""Smoke check for the local AWS stand-ins started by tests/with-emulators.sh.

    bash tests/with-emulators.sh python3 tests/emulators/smoke.py

(with-emulators.sh puts the emulator venv first on PATH, so `python3` has boto3.)

Checks the behaviours oncelink's tests rely on, against the real servers:
  * DynamoDB Local and moto: create a table, conditional PutItem wins once and the
    second attempt fails with ConditionalCheckFailedException;
  * moto: SSM SecureString put/get round trip;
  * s3s-fs: a boto3 presigned GET URL fetched with curl gives 200 and the object's
    bytes; the same URL with one signature character changed gives 403.
Safe to rerun against the same emulators (unique table/key names per run).
"""
import os
import subprocess
import sys
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RUN = uuid.uuid4().hex[:8]
failures = []


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{(': ' + detail) if detail else ''}")
    if not ok:
        failures.append(label)


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"smoke.py: {name} is not set; run me under tests/with-emulators.sh")
    return value


def dynamodb_conditional_put(label, endpoint):
    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    table = f"smoke-{RUN}"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    item = {"pk": {"S": "link#1"}, "state": {"S": "issued"}}
    cond = "attribute_not_exists(pk)"
    ddb.put_item(TableName=table, Item=item, ConditionExpression=cond)
    check(f"{label}: first conditional PutItem succeeds", True)
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression=cond)
        check(f"{label}: second conditional PutItem fails", False, "it succeeded")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(f"{label}: second conditional PutItem fails", code == "ConditionalCheckFailedException", code)
    ddb.delete_table(TableName=table)


def ssm_round_trip(endpoint):
    ssm = boto3.client("ssm", endpoint_url=endpoint)
    name = f"/oncelink/smoke/{RUN}/signing-key"
    ssm.put_parameter(Name=name, Value="s3cr3t-" + RUN, Type="SecureString")
    got = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    check("moto: SSM SecureString put/get", got == "s3cr3t-" + RUN, got)


def curl(url, method="GET"):
    """HTTP status and body via curl (a client that knows nothing about AWS)."""
    # HEAD via -I: `-X HEAD` would make curl wait for a body that never comes.
    verb = ["-I"] if method == "HEAD" else ["-X", method]
    out = subprocess.run(
        ["curl", "--noproxy", "*", "-s", "-m", "10", *verb, "-o", "-", "-w", "\n%{http_code}", url],
        check=True, capture_output=True,
    ).stdout
    body, _, status = out.rpartition(b"\n")
    return int(status), body


def s3_presigned(endpoint, bucket, access_key, secret_key):
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        # SigV4 presigning, path-style URLs (s3s-fs serves http://host:port/<bucket>/<key>).
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = f"smoke/{RUN}/hello.txt"
    payload = f"hello from oncelink smoke {RUN}\n".encode()
    s3.put_object(Bucket=bucket, Key=key, Body=payload)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)

    status, body = curl(url)
    check("s3s-fs: presigned GET -> 200 with the object", status == 200 and body == payload, f"HTTP {status}")

    # Change one hex digit of the signature: must be rejected.
    head, sig = url.split("X-Amz-Signature=")
    bad = head + "X-Amz-Signature=" + ("0" if sig[0] != "0" else "1") + sig[1:]
    status, _ = curl(bad)
    check("s3s-fs: tampered signature -> 403", status == 403, f"HTTP {status}")

    # A GET link must not be usable for another method.
    status, _ = curl(url, method="HEAD")
    check("s3s-fs: HEAD with a GET link -> 403", status == 403, f"HTTP {status}")

    # The object really is a file in the data dir (handy for test fixtures/asserts).
    path = os.path.join(env("ONCELINK_TEST_S3_DATA_DIR"), bucket, key)
    check("s3s-fs: object stored under ONCELINK_TEST_S3_DATA_DIR", os.path.isfile(path), path)


def main():
    dynamodb_conditional_put("DynamoDB Local", env("ONCELINK_TEST_DDB_LOCAL_URL"))
    dynamodb_conditional_put("moto", env("ONCELINK_TEST_MOTO_URL"))
    ssm_round_trip(env("ONCELINK_TEST_MOTO_URL"))
    s3_presigned(
        env("ONCELINK_TEST_S3_URL"),
        env("ONCELINK_TEST_S3_BUCKET"),
        env("ONCELINK_TEST_S3_ACCESS_KEY"),
        env("ONCELINK_TEST_S3_SECRET_KEY"),
    )
    if failures:
        sys.exit(f"smoke.py: {len(failures)} check(s) failed: {', '.join(failures)}")
    print("smoke.py: all checks passed")


if __name__ == "__main__":
    main()

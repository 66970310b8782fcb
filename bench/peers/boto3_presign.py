"""Peer: boto3's generate_presigned_url, timed like oncelink's own issuing loop.

usage: boto3_presign.py BUCKET KEY REGION EXPIRES ACCESS_KEY SECRET_KEY WARMUP_SECS BUDGET_SECS
Prints one JSON line: {"iterations", "seconds", "sample", "version"}. The client is built once;
the warm-up is not counted; then as many calls as the warm-up rate says fit the budget.
"""
import json
import sys
import time

import boto3
import botocore
from botocore.config import Config


def main():
    bucket, key, region, expires, access_key, secret_key, warm_up, budget = sys.argv[1:9]
    client = boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(signature_version="s3v4"),
    )
    params = {"Bucket": bucket, "Key": key}
    expires = int(expires)

    def call():
        return client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    started = time.perf_counter()
    warm_calls = 0
    sample = ""
    while time.perf_counter() - started < float(warm_up) or warm_calls == 0:
        sample = call()
        warm_calls += 1
    rate = warm_calls / (time.perf_counter() - started)
    iterations = max(1, int(rate * float(budget)))
    timed = time.perf_counter()
    for _ in range(iterations):
        call()
    seconds = time.perf_counter() - timed
    print(json.dumps({"iterations": iterations, "seconds": seconds, "sample": sample,
                      "version": f"boto3 {boto3.__version__}, botocore {botocore.__version__}, Python {sys.version.split()[0]}"}))


if __name__ == "__main__":
    main()

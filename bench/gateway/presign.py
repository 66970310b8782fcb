"""presign.py — print a SigV4 presigned GET URL (path style) for one object, stdlib only.

The plain-origin peer of the 1 GiB download: the same s3s-fs, the same object, reached
directly with an ordinary presigned URL instead of through the gateway.
    python3 presign.py <endpoint> <bucket> <key> <access_key> <secret_key>
"""

import datetime
import hashlib
import hmac
import sys
import urllib.parse


def presign(endpoint: str, bucket: str, key: str, access_key: str, secret_key: str, region: str = "us-east-1") -> str:
    url = urllib.parse.urlsplit(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": "3600",
        "X-Amz-SignedHeaders": "host",
    }
    canonical_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical = f"GET\n{path}\n{canonical_query}\nhost:{url.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signing_key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{url.scheme}://{url.netloc}{path}?{canonical_query}&X-Amz-Signature={signature}"


if __name__ == "__main__":
    print(presign(*sys.argv[1:6]))

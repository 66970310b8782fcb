#!/bin/sh
# deploy/container/build-static.sh OUT — build `oncelink` as one static executable and lay out
# the files of the container image's root under OUT:
#
#   OUT/oncelink                             the gateway, static (glibc linked in: +crt-static)
#   OUT/etc/ssl/certs/ca-certificates.crt    this machine's CA bundle (TLS to S3, DynamoDB)
#   OUT/etc/passwd, OUT/etc/group            the one user the image runs as: oncelink, 65532:65532
#   OUT/data/                                empty; the image's volume, chowned to 65532 there
#
# The Dockerfile's build stage runs exactly this, and so does tests/container/run.sh on the host
# (no builder image can be pulled there), so the build command the image uses is the tested one.
# Static with glibc rather than musl: the toolchain of the rust image (and of CI) has the gnu
# target only. glibc's hosts-file and DNS lookups are built into libc since 2.34, so a static
# binary resolves names from /etc/hosts and /etc/resolv.conf without any NSS library (checked
# by tests/container/run.sh in the image's empty root).
set -eu
out=${1:?usage: build-static.sh OUT_DIR}
cd "$(dirname "$0")/../.."
target=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$target" -p oncelink-gateway --bin oncelink
bin="${CARGO_TARGET_DIR:-target}/$target/release/oncelink"
# A dynamic executable names its loader (PT_INTERP); a static one does not. Without this check a
# dynamic binary would only fail when the image starts ("no such file or directory").
if readelf -lW "$bin" | grep -q 'program interpreter'; then
  echo "build-static.sh: $bin is not static (it names a program interpreter)" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out/etc/ssl/certs" "$out/data"
cp "$bin" "$out/oncelink"
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\noncelink:x:65532:65532:oncelink:/data:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\noncelink:x:65532:\n' >"$out/etc/group"
echo "build-static.sh: $out/oncelink ($target, static)"

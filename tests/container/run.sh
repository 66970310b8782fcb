#!/usr/bin/env bash
# tests/container/run.sh — the container image, built from the repository's Dockerfile and run,
# without a Docker daemon (buildah builds, podman runs; Debian packages, installed when missing).
#
#   1. build    deploy/container/build-static.sh on the host (the Dockerfile's build stage runs
#               the same script; its Rust image cannot be pulled here), then `buildah bud` of the
#               Dockerfile with --build-arg FILES=prebuilt: the image's final stage as shipped
#   2. inspect  the image config (user 65532, VOLUME /data, HEALTHCHECK, entry point, env, port)
#               and its root: exactly the binary, the CA bundle, passwd/group and /data (65532)
#   3. run      podman, read-only root, no capabilities, a named volume at /data, published on a
#               free loopback port: healthy (the image's HEALTHCHECK, and `oncelink healthcheck`
#               inside, by name through /etc/hosts), the web page, `oncelink put` and `issue`
#               from the host with the token from the volume, the link 200 then 403, files in
#               the volume owned by 65532, the process not root, SIGTERM exits 0; a new
#               container on the same volume: the link stays used (403)
#   4. compose  deploy/compose/compose.yaml checked structurally (tests/container/check_compose.py)
#
# Storage (vfs driver: no overlay or fuse needed) is cached under $ONCELINK_CACHE/containers, the
# static build's target dir under $ONCELINK_CACHE/target-static (ONCELINK_STATIC_TARGET_DIR to
# override). Runs as root (CI); rootful podman, the container's process is uid 65532.
#
# This machine's quirks, and why the flags below: its kernel mounts cgroups in hybrid mode, which
# crun (podman's default runtime) refuses ("cgroups in hybrid mode not supported"), so the
# runtime is runc (ONCELINK_OCI_RUNTIME to change); podman asks for 1048576 open files and
# lowers its own process limit to 32768, and setting a container limit above the current one
# needs CAP_SYS_RESOURCE, which this VM does not grant ("setrlimit RLIMIT_NOFILE: Operation not
# permitted"), so the container gets the current limits explicitly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${ONCELINK_CACHE:-$HOME/.cache/oncelink}"
runtime="${ONCELINK_OCI_RUNTIME:-runc}"
image=localhost/oncelink-test:latest
say() { printf 'container: %s\n' "$*"; }
fail() { printf 'container: FAIL: %s\n' "$*" >&2; exit 1; }

# --- tools --------------------------------------------------------------------------------------
# package: how to tell it is there. netavark and iptables are named because podman only
# recommends them (an install without recommends may pick the CNI plugins instead).
need=()
have() { case "$1" in
  netavark) [[ -x /usr/lib/podman/netavark ]] ;;
  python3-yaml) python3 -c 'import yaml' 2>/dev/null ;;
  binutils) command -v readelf >/dev/null ;;
  *) command -v "$1" >/dev/null ;;
esac; }
for package in buildah podman "$runtime" netavark iptables python3-yaml binutils curl; do
  have "$package" || need+=("$package")
done
if ((${#need[@]})); then
  [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || fail "missing ${need[*]} (Debian: apt-get install -y ${need[*]})"
  say "installing ${need[*]} (Debian packages) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends "${need[@]}" >&2; } \
    || fail "apt-get install ${need[*]} failed"
fi

store="$cache/containers"
mkdir -p "$store"
storage=(--root "$store/storage" --runroot "$store/run" --storage-driver vfs)
# Without systemd podman cannot arm the health check's timer and says so on every start and stop
# (this script runs the check itself: `podman healthcheck run`); only that line is dropped.
pod() { podman "${storage[@]}" --runtime "$runtime" "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(( $(ulimit -Hu) < 32768 ? $(ulimit -Hu) : 32768 )):$(( $(ulimit -Hu) < 32768 ? $(ulimit -Hu) : 32768 ))")

work="$(mktemp -d)"
names=()
volume="oncelink-test-data-$$"
cleanup() {
  local status=$?
  for name in "${names[@]}"; do
    pod container exists "$name" 2>/dev/null || continue
    if ((status != 0)); then echo "--- podman logs $name (tail) ---" >&2; pod logs --tail 30 "$name" >&2 2>&1 || true; fi
    pod rm -f -t 5 "$name" >/dev/null 2>&1 || true
  done
  pod volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. build -----------------------------------------------------------------------------------
say "static binary (deploy/container/build-static.sh)"
CARGO_TARGET_DIR="${ONCELINK_STATIC_TARGET_DIR:-$cache/target-static}" sh "$repo/deploy/container/build-static.sh" "$work/ctx/prebuilt"
bin="$work/ctx/prebuilt/oncelink"
cp "$repo/Dockerfile" "$repo/.dockerignore" "$work/ctx/"
say "image (buildah bud of the Dockerfile, final stage from prebuilt/)"
# --format docker: the OCI image format has no HEALTHCHECK. --layers --force-rm: without them
# buildah 1.28 leaves a working container for the `FROM ${FILES}` stage, keeping every run's
# image alive in the cache.
buildah "${storage[@]}" bud --quiet --format docker --layers --force-rm --build-arg FILES=prebuilt -t "$image" "$work/ctx" >/dev/null
pod image prune -f >/dev/null # the previous run's image, now untagged

# --- 2. inspect ---------------------------------------------------------------------------------
pod image inspect "$image" >"$work/image.json"
python3 - "$work/image.json" <<'EOF'
import json, sys
image = json.load(open(sys.argv[1]))[0]
config = image["Config"]
def want(what, got, expected):
    assert got == expected, f"image {what}: {got!r}, wanted {expected!r}"
want("user", config.get("User"), "65532:65532")
want("volumes", sorted(config.get("Volumes") or {}), ["/data"])
want("healthcheck", (config.get("Healthcheck") or image.get("Healthcheck") or {}).get("Test"), ["CMD", "/oncelink", "healthcheck"])
want("entrypoint", config.get("Entrypoint"), ["/oncelink"])
want("cmd", config.get("Cmd"), ["serve"])
want("exposed ports", sorted(config.get("ExposedPorts") or {}), ["8787/tcp"])
env = dict(e.split("=", 1) for e in config.get("Env") or [])
want("ONCELINK_DATA_DIR", env.get("ONCELINK_DATA_DIR"), "/data")
want("ONCELINK_LISTEN", env.get("ONCELINK_LISTEN"), "0.0.0.0:8787")
want("title label", (config.get("Labels") or {}).get("org.opencontainers.image.title"), "oncelink")
print("container: image config: user 65532:65532, VOLUME /data, HEALTHCHECK, ENTRYPOINT /oncelink serve: ok")
EOF
root="$(pod image mount "$image")"
listing="$(cd "$root" && find . -mindepth 1 -printf '%p %U:%G %m\n' | sort)"
pod image unmount "$image" >/dev/null
expected="./data 65532:65532 755
./etc 0:0 755
./etc/group 0:0 644
./etc/passwd 0:0 644
./etc/ssl 0:0 755
./etc/ssl/certs 0:0 755
./etc/ssl/certs/ca-certificates.crt 0:0 644
./oncelink 0:0 755"
[[ "$listing" == "$expected" ]] || fail "the image's root is not what it should be:
$listing
wanted:
$expected"
say "image root: /oncelink, CA bundle, passwd/group, /data (65532): ok"

# --- 3. run -------------------------------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
pod volume create "$volume" >/dev/null
data="$(pod volume inspect --format '{{.Mountpoint}}' "$volume")"

# start NAME: a gateway container on the volume, published on $port; waits until healthy.
start() {
  local name="$1"
  names+=("$name")
  pod run -d --name "$name" "${limits[@]}" --read-only --cap-drop ALL --security-opt no-new-privileges \
    --add-host gateway.oncelink.test:127.0.0.1 -v "$volume:/data" -p "127.0.0.1:$port:8787" \
    -e ONCELINK_PUBLIC_URL="$base" "$image" >/dev/null
  for _ in $(seq 1 100); do
    pod healthcheck run "$name" >/dev/null 2>&1 && return 0
    [[ "$(pod inspect --format '{{.State.Running}}' "$name")" == true ]] || fail "$name exited: $(pod logs "$name" 2>&1 | tail -5)"
    sleep 0.1
  done
  fail "$name never became healthy: $(pod healthcheck run "$name" 2>&1)"
}

start oncelink-test-a-$$
ctr="oncelink-test-a-$$"
say "running: healthy by the image's HEALTHCHECK"
out="$(pod exec "$ctr" /oncelink healthcheck --url http://gateway.oncelink.test:8787)"
[[ "$out" == "healthy: http://gateway.oncelink.test:8787/_oncelink/healthz" ]] || fail "healthcheck by name: $out"
say "oncelink healthcheck inside, by a name from /etc/hosts (static glibc resolves it): ok"
if out="$(pod run --rm "${limits[@]}" "$image" healthcheck 2>&1)"; then fail "healthcheck passed with no gateway running: $out"; fi
[[ "$out" == *"cannot reach the gateway at http://127.0.0.1:8787/_oncelink/healthz"* ]] || fail "healthcheck without a gateway: $out"
say "healthcheck in a container without a gateway fails with: ${out#oncelink: error: }"

page="$(curl -sS -m 5 -w '\n%{http_code}' "$base/_oncelink/")"
[[ "${page##*$'\n'}" == 200 && "$page" == *"<html"* ]] || fail "the web page: $(head -c 200 <<<"$page")"
say "web page at $base/_oncelink/: 200"

token="$(cat "$data/api-token")"
[[ ${#token} -ge 16 ]] || fail "no API token in the volume"
pod logs "$ctr" >"$work/banner.txt" 2>&1
grep -q "^api token: \*\*\*\* (generated now, in /data/api-token; not shown: stdout is not a terminal)" "$work/banner.txt" \
  || fail "the banner's token line: $(grep 'api token' "$work/banner.txt")"
if grep -qF "$token" "$work/banner.txt"; then fail "the API token is in the container's log"; fi

printf 'the container test says hello %s\n' "$$" >"$work/hello.txt"
export ONCELINK_API_TOKEN="$token"
"$bin" put "$work/hello.txt" --gateway "$base" >/dev/null
link="$("$bin" issue hello.txt --expires 10m --gateway "$base" 2>/dev/null)"
unset ONCELINK_API_TOKEN
[[ "$link" == "$base/hello.txt?"* ]] || fail "issue printed: $link"
got="$(curl -sS -m 5 -o "$work/got.txt" -w '%{http_code}' "$link")"
[[ "$got" == 200 ]] && cmp -s "$work/hello.txt" "$work/got.txt" || fail "first GET of the link: $got"
got="$(curl -sS -m 5 -o "$work/again.json" -w '%{http_code}' "$link")"
[[ "$got" == 403 ]] && grep -q link_already_used "$work/again.json" || fail "second GET of the link: $got $(cat "$work/again.json")"
say "put, issue, GET 200 then 403 link_already_used: ok"

pid="$(pod inspect --format '{{.State.Pid}}' "$ctr")"
ids="$(awk '/^Uid:|^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" | tr '\n' ' ')"
[[ "$ids" == "65532 65532 65532 65532 65532 65532 65532 65532 " ]] || fail "the gateway runs as uid/gid $ids"
capeff="$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")"
[[ "$capeff" == 0000000000000000 ]] || fail "the gateway has capabilities $capeff"
not_ours="$(find "$data" \( ! -uid 65532 -o ! -gid 65532 \) -printf '%p %U:%G\n')"
[[ -z "$not_ours" ]] || fail "files in the volume not owned by 65532: $not_ours"
[[ -f "$data/ledger.journal" && -f "$data/keys.json" && -f "$data/objects/oncelink/hello.txt" ]] || fail "the volume lacks the ledger, keys or object: $(ls -R "$data")"
say "process uid/gid 65532, no capabilities; volume files ($(find "$data" -type f | wc -l)) owned by 65532: ok"

pod stop -t 20 "$ctr" >/dev/null
code="$(pod inspect --format '{{.State.ExitCode}}' "$ctr")"
[[ "$code" == 0 ]] || fail "the gateway exited $code on SIGTERM"
pod rm "$ctr" >/dev/null
say "SIGTERM: exit 0"

start oncelink-test-b-$$
got="$(curl -sS -m 5 -o "$work/after.json" -w '%{http_code}' "$link")"
[[ "$got" == 403 ]] && grep -q link_already_used "$work/after.json" || fail "the link after a new container on the volume: $got $(cat "$work/after.json")"
say "a new container on the same volume: the link is still used (403): ok"

# --- 4. compose ---------------------------------------------------------------------------------
"$bin" serve --help >"$work/serve-help.txt"
python3 "$here/check_compose.py" "$repo/deploy/compose/compose.yaml" "$work/serve-help.txt" "$repo/Dockerfile"
say "all checks passed (at ${SECONDS}s)"

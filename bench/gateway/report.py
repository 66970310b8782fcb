"""report.py — turn the wrk and curl outputs of bench/gateway/run.sh into $BENCH_OUT/gateway.json
(the shared bench result contract: part, title, method, rows, targets, charts).
    python3 report.py <work dir> <out file>
The work dir holds: first.txt, denied.txt, health.txt (wrk --latency outputs), links.count,
gateway.mbps, origin.mbps, settings.json.
"""

import json
import re
import sys
from pathlib import Path

TARGET = 10_000.0


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(path: Path) -> dict:
    """Requests/s, p50/p99 latency, total and non-2xx counts from one `wrk --latency` output."""
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": rps, "p50": pct.get("50"), "p99": pct.get("99"), "total": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


def main() -> None:
    work, out = Path(sys.argv[1]), Path(sys.argv[2])
    first, denied, health = wrk(work / "first.txt"), wrk(work / "denied.txt"), wrk(work / "health.txt")
    links = int((work / "links.count").read_text())
    gw_mbps, origin_mbps = (float((work / f).read_text()) for f in ("gateway.mbps", "origin.mbps"))
    settings = json.loads((work / "settings.json").read_text())
    rows = []
    for subject, metric, r, note in (
        ("oncelink gateway, embedded redb ledger (durable)", "first uses", first,
         f"{first['total']} requests, each a different fresh link ({links} issued); non-2xx: {first['non2xx']}"),
        ("oncelink gateway, embedded redb ledger", "denials (spent links)", denied,
         f"{denied['total']} requests round and round 2000 spent links; non-2xx (403 expected for all): {denied['non2xx']}"),
        ("oncelink gateway", "GET /_oncelink/healthz (peer: no ledger, no origin)", health, f"{health['total']} requests"),
    ):
        rows.append({"subject": subject, "metric": f"{metric} req/s", "value": round(r["rps"], 1), "unit": "req/s",
                     "ratio": f"{r['rps'] / health['rps']:.2f}x healthz", "note": note})
        rows.append({"subject": subject, "metric": f"{metric} latency p50", "value": r["p50"], "unit": "ms"})
        rows.append({"subject": subject, "metric": f"{metric} latency p99", "value": r["p99"], "unit": "ms"})
    rows.append({"subject": "1 GiB download through the gateway (external s3s-fs origin)", "metric": "throughput",
                 "value": round(gw_mbps, 1), "unit": "MB/s", "ratio": f"{gw_mbps / origin_mbps:.2f}x plain origin"})
    rows.append({"subject": "1 GiB download straight from s3s-fs (presigned URL)", "metric": "throughput",
                 "value": round(origin_mbps, 1), "unit": "MB/s"})
    if first["total"] >= links:
        sys.exit(f"the first-use run used up all {links} fresh links: raise ISSUE_SECONDS")
    met = first["rps"] >= TARGET and first["non2xx"] == 0
    target = {"target": ">= 10,000 validations/s through the gateway on 2 cores (embedded ledger)",
              "measured": f"{first['rps']:,.0f}/s first uses (durable); {denied['rps']:,.0f}/s denials", "met": met}
    if not met:
        target["explanation"] = (
            f"Denials take the same path (edge decision + one ledger change, group-committed: one redb write "
            f"transaction and fsync per batch) and reach {denied['rps']:,.0f}/s, so the durable ledger is not the limit. "
            f"A first use adds the origin fetch: a SigV4-signed GET to the embedded s3s-fs (verify, open, read the "
            f"file) streamed back, at {first['p50']:.1f} ms p50 under {settings['connections']} connections. ")
        profile = work / "profile.txt"
        if profile.exists() and profile.read_text().strip():
            lines = [" ".join(line.split()) for line in profile.read_text().splitlines() if line.strip()]
            target["explanation"] += (
                "Profile of the gateway during the first-use run (perf, cpu-clock samples, children-inclusive "
                "where a symbol is named): " + "; ".join(lines) + ". Most of the CPU is the kernel waking and "
                "parking threads (futex): s3s-fs runs every file operation of a GET (open, statx, read of the "
                "object and its metadata) on tokio's blocking pool, each a thread hand-off, plus the loopback "
                "HTTP hop to the in-process origin; the decision and the ledger barely show.")
        else:
            target["explanation"] += "perf was not available, so this is inferred from the two runs, not profiled."
    method = (f"wrk 4.1 on loopback, {settings['threads']} threads x {settings['connections']} connections, "
              f"{settings['seconds']}s per run after a {settings['warmup']}s healthz warm-up; wrk shares the machine's "
              f"{settings['cores']} cores with the gateway (no pinning: both processes may use both cores, so the "
              "numbers include the load generator's cost). First uses: links issued first through the issue API "
              "(wrk POST), then each GET walks a different link once; denials: 2000 links spent beforehand, walked round and round. "
              "1 GiB: curl to /dev/null, gateway with --origin-endpoint on a standalone s3s-fs vs a presigned URL "
              "straight to that s3s-fs, same object, page cache warm.")
    charts = [
        {"title": "Gateway requests/s (2 cores, shared with wrk)", "unit": "req/s", "higher_is_better": True,
         "bars": [{"label": "first uses (durable)", "value": round(first["rps"], 1)},
                  {"label": "denials (spent)", "value": round(denied["rps"], 1)},
                  {"label": "healthz", "value": round(health["rps"], 1)},
                  {"label": "target", "value": TARGET}]},
        {"title": "1 GiB streamed download", "unit": "MB/s", "higher_is_better": True,
         "bars": [{"label": "through gateway", "value": round(gw_mbps, 1)},
                  {"label": "plain origin", "value": round(origin_mbps, 1)}]},
    ]
    result = {"part": "gateway", "title": "Gateway under load", "method": method, "rows": rows,
              "targets": [target], "charts": charts}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(target))


if __name__ == "__main__":
    main()

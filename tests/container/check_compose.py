"""Structural check of deploy/compose/compose.yaml (it cannot be run here: no Docker Hub).

    python3 check_compose.py COMPOSE_FILE SERVE_HELP_FILE DOCKERFILE

Asserts the shape the file promises: a PostgreSQL service with a volume and a health check; the
gateway built from the repository's Dockerfile, on the postgres ledger, waiting for the database
to be healthy, with a data volume at the image's /data, non-root, read-only, no capabilities,
and the image's own health check; and every ONCELINK_* variable it sets is one that
`oncelink serve --help` lists (or one of the environment-only secrets).
"""
import os
import re
import sys

import yaml

compose_path, help_path, dockerfile_path = sys.argv[1:4]
compose = yaml.safe_load(open(compose_path))
known = set(re.findall(r"\[env: (ONCELINK_[A-Z_]+)[=\]]", open(help_path).read()))
assert "ONCELINK_DATABASE_URL" in known and "ONCELINK_LEDGER" in known, f"serve --help lists {sorted(known)}"
known |= {"ONCELINK_API_TOKEN", "ONCELINK_KEYS"}  # environment only: secrets stay out of flags

services = compose["services"]
db, gw = services["db"], services["gateway"]

assert db["image"].split(":")[-1].startswith("16"), db["image"]
assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"]), db["volumes"]
assert "pg_isready" in db["healthcheck"]["test"], db["healthcheck"]

build = gw["build"]
dockerfile = os.path.normpath(os.path.join(os.path.dirname(compose_path), build["context"], build["dockerfile"]))
assert os.path.samefile(dockerfile, dockerfile_path), f"the gateway is built from {dockerfile}"
command = gw["command"]
assert command[0] == "serve" and command[command.index("--ledger") + 1] == "postgres", command
env = gw["environment"]
assert env["ONCELINK_DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["ONCELINK_DATABASE_URL"], "database URL"
unknown = sorted(set(env) - known)
assert not unknown, f"variables oncelink serve does not read: {unknown}"
assert gw["depends_on"]["db"]["condition"] == "service_healthy", gw["depends_on"]
assert "gateway-data:/data" in gw["volumes"], gw["volumes"]
assert set(compose["volumes"]) >= {"db-data", "gateway-data"}, compose["volumes"]
assert gw["user"] == "65532:65532" and gw["read_only"] is True and gw["cap_drop"] == ["ALL"], "non-root, read-only, no caps"
assert gw["healthcheck"]["test"] == ["CMD", "/oncelink", "healthcheck"], gw["healthcheck"]
assert any(p.endswith(":8787") for p in gw["ports"]), gw["ports"]
docker = open(dockerfile_path).read()
assert "EXPOSE 8787" in docker and "ONCELINK_LISTEN=0.0.0.0:8787" in docker, "the port the compose file publishes"
print(f"compose: {compose_path}: services {sorted(services)}, gateway env {sorted(env)}: ok")

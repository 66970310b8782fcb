"""Shared fixtures for the infra tests: parsed Terraform and synthesized CDK templates.

run.sh synthesizes the sample app into $ONCELINK_CDK_OUT/{sealed,presigned} (CloudFront) and
$ONCELINK_CDK_OUT/static-ip-{sealed,presigned} (-c deployment=static-ip) before pytest runs.
"""
import glob
import json
import os
import pathlib
import sys

# python-hcl2 lives in its own --target dir: checkov's fork (bc-python-hcl2) installs a module of
# the same name into the venv, with an older output format. setup.sh installs both.
_CACHE = pathlib.Path(os.environ.get("ONCELINK_CACHE", pathlib.Path.home() / ".cache" / "oncelink"))
sys.path.insert(0, str(_CACHE / "venv-infra" / "python-hcl2"))

import hcl2  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
TF = REPO / "infra" / "terraform"
MODULE = TF / "modules" / "oncelink"


def normalize(value):
    """python-hcl2 8 keeps the quotes of string literals and labels and marks blocks; drop both."""
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items() if k not in ("__is_block__", "__start_line__", "__end_line__")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def load_tf(path):
    with open(path) as fh:
        return normalize(hcl2.load(fh))


def tf_files():
    return sorted(pathlib.Path(p) for p in glob.glob(str(TF / "**" / "*.tf"), recursive=True))


STATIC_MODULE = TF / "modules" / "oncelink-static-ip"


def merged_module(folder):
    """A module's blocks merged across files: {'resource': {type: {name: body}}, 'data': ..., ...}."""
    merged = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}}
    for f in sorted(folder.glob("*.tf")):
        doc = load_tf(f)
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        merged[kind].setdefault(rtype, {})[name] = body
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                merged[kind].update(block)
        for block in doc.get("locals", []):
            merged["locals"].update(block)
    return merged


@pytest.fixture(scope="session")
def module():
    """modules/oncelink (CloudFront + Lambda@Edge), merged across files."""
    return merged_module(MODULE)


@pytest.fixture(scope="session")
def static_module():
    """modules/oncelink-static-ip (Global Accelerator + NLB + Fargate), merged across files."""
    return merged_module(STATIC_MODULE)


def cdk_out():
    root = os.environ.get("ONCELINK_CDK_OUT")
    if not root:
        pytest.skip("ONCELINK_CDK_OUT not set (run tests/infra/run.sh)")
    return pathlib.Path(root)


@pytest.fixture(scope="session", params=["sealed", "presigned"])
def cdk(request):
    """(mode, main template, edge template) for the sample app synthesized in that mode."""
    out = cdk_out() / request.param
    main = json.loads((out / "OnceLink-demo.template.json").read_text())
    edge = json.loads((out / "OnceLink-demo-edge.template.json").read_text())
    return request.param, main, edge


@pytest.fixture(scope="session", params=["sealed", "presigned"])
def cdk_static(request):
    """(mode, template) of the sample app synthesized with -c deployment=static-ip in that mode."""
    out = cdk_out() / f"static-ip-{request.param}"
    return request.param, json.loads((out / "OnceLinkStaticIp-demo.template.json").read_text())

"""docs/events.schema.json is the contract of every event oncelink sends (gateway webhook body,
EventBridge Detail): the schema itself is valid draft 2020-12, the documented examples (which
shared/tests/event_examples.rs holds equal to what the code emits) all pass it, and it refuses
what a receiver must never get."""
import copy
import json
import pathlib

import jsonschema
import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
SCHEMA = json.loads((DOCS / "events.schema.json").read_text())
EXAMPLES = json.loads((DOCS / "events.examples.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_type_has_an_example():
    assert {e["type"] for e in EXAMPLES} == set(SCHEMA["properties"]["type"]["enum"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["type"] + ":" + e["id"])
def test_every_example_passes(example):
    VALIDATOR.validate(example)


def broken(kind, change):
    event = copy.deepcopy(next(e for e in EXAMPLES if e["type"] == kind))
    change(event)
    return event


@pytest.mark.parametrize(
    "event",
    [
        broken("link.used", lambda e: e.update(type="link.downloaded")),
        broken("link.used", lambda e: e.update(id="1234")),
        broken("link.used", lambda e: e.pop("request_id")),
        broken("link.used", lambda e: e.update(reason="link_expired")),
        broken("link.refused", lambda e: e.pop("reason")),
        broken("link.refused", lambda e: e["client"].update(network="203.0.113.7")),
        broken("link.refused", lambda e: e["client"].update(user_agent="curl/8.5.0")),
        broken("link.revoked", lambda e: e.update(request_id="r")),
        broken("link.used", lambda e: e.update(url="https://cdn.example/secret?token")),
        broken("link.used", lambda e: e.update(tag="has space")),
    ],
)
def test_it_refuses_what_a_receiver_must_never_get(event):
    assert not VALIDATOR.is_valid(event)

"""The client's models mirror the server's: the same JSON schema, so neither drifts unnoticed."""

from __future__ import annotations

from typing import Any

import pytest
from breaking_client import Event, Problem, event_key
from breaking_client.models import Meta as ClientMeta
from pydantic import BaseModel

from service.events import parse_id
from service.meta import Meta
from service.models import ListedAlert, ProblemDetail


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema without the models' names and docstrings, which may differ."""
    schema = model.model_json_schema()
    schema.pop("title")
    for part in (schema, *schema.get("$defs", {}).values()):
        part.pop("description", None)
    return schema


@pytest.mark.parametrize(
    ("client_model", "server_model"),
    [(Event, ListedAlert), (Problem, ProblemDetail), (ClientMeta, Meta)],
)
def test_client_model_has_the_server_schema(
    client_model: type[BaseModel], server_model: type[BaseModel]
) -> None:
    assert _schema(client_model) == _schema(server_model)


@pytest.mark.parametrize("value", ["1764000000123-0", "1-12", "0-0"])
def test_event_ids_parse_as_the_server_parses_them(value: str) -> None:
    assert event_key(value) == parse_id(value)


@pytest.mark.parametrize("value", ["", "12", "12-", "a-1", "1-2-3", " 1-2"])
def test_malformed_event_ids_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="not an event id"):
        event_key(value)
    with pytest.raises(ValueError, match="not an event id"):
        parse_id(value)


def test_ids_order_as_numbers_not_strings() -> None:
    assert event_key("9-0") < event_key("10-0")
    assert event_key("10-2") < event_key("10-10")

"""`GET /v1/meta`: the vocabulary comes from the node's settings and is documented."""

from __future__ import annotations

import json

import httpx

from tests.support.processes import ServiceProcess, service_process


def test_default_node_names_every_region_in_each_language(memory_node: ServiceProcess) -> None:
    answer = httpx.get(f"{memory_node.url}/v1/meta")
    assert answer.status_code == 200
    meta = answer.json()
    assert [r["slug"] for r in meta["regions"]][:3] == ["africa", "asia", "asia-pacific"]
    mena = next(r for r in meta["regions"] if r["slug"] == "mena")
    assert mena["names"] == {
        "en": "Middle East & North Africa",
        "ar": "الشرق الأوسط وشمال أفريقيا",
        "es": "Oriente Próximo y norte de África",
    }
    assert {(lang["code"], lang["dir"]) for lang in meta["languages"]} == {
        ("en", "ltr"),
        ("ar", "rtl"),
        ("es", "ltr"),
    }
    assert [p["slug"] for p in meta["priorities"]] == ["flash", "breaking", "update"]
    assert "arts-culture" in [c["slug"] for c in meta["categories"]]
    # No token needed, and any page may read it.
    assert answer.headers["access-control-allow-origin"] == "*"


def test_custom_regions_fall_back_to_their_slug_or_take_configured_names() -> None:
    names = {"north": {"en": "The North", "ar": "الشمال", "es": "El Norte"}}
    env = {
        "BREAKING_REGIONS": "north,south",
        "BREAKING_REGION_NAMES": json.dumps(names),
        "BREAKING_EDITOR_TOKENS": "desk:a-long-enough-token",
    }
    with service_process(env=env) as node:
        regions = httpx.get(f"{node.url}/v1/meta").json()["regions"]
    assert regions == [
        {"slug": "north", "names": names["north"]},
        {"slug": "south", "names": {"en": "south", "ar": "south", "es": "south"}},
    ]


def test_meta_is_in_the_openapi_schema(memory_node: ServiceProcess) -> None:
    schema = httpx.get(f"{memory_node.url}/openapi.json").json()
    operation = schema["paths"]["/v1/meta"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Meta"
    }
    assert set(schema["components"]["schemas"]["Meta"]["required"]) == {
        "regions",
        "languages",
        "categories",
        "priorities",
    }

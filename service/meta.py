"""`GET /v1/meta`: the node's vocabulary, so pages, tickers and clients never hard-code it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.config import Settings
from service.events import PRIORITY_RANK
from service.models import CATEGORIES, LANGUAGES
from service.openapi import Operation, operation
from service.responses import json_response

Names = dict[str, str]

_RTL = frozenset({"ar"})
_LANGUAGE_NAMES: dict[str, str] = {"en": "English", "ar": "العربية", "es": "Español"}
_REGION_NAMES: dict[str, Names] = {
    "africa": {"en": "Africa", "ar": "أفريقيا", "es": "África"},
    "asia": {"en": "Asia", "ar": "آسيا", "es": "Asia"},
    "asia-pacific": {"en": "Asia-Pacific", "ar": "آسيا والمحيط الهادئ", "es": "Asia-Pacífico"},
    "europe": {"en": "Europe", "ar": "أوروبا", "es": "Europa"},
    "latin-america": {"en": "Latin America", "ar": "أمريكا اللاتينية", "es": "América Latina"},
    "mena": {
        "en": "Middle East & North Africa",
        "ar": "الشرق الأوسط وشمال أفريقيا",
        "es": "Oriente Próximo y norte de África",
    },
    "palestine": {"en": "Palestine", "ar": "فلسطين", "es": "Palestina"},
    "us-canada": {"en": "US & Canada", "ar": "الولايات المتحدة وكندا", "es": "EE. UU. y Canadá"},
}
_CATEGORY_NAMES: dict[str, Names] = {
    "politics": {"en": "Politics", "ar": "سياسة", "es": "Política"},
    "economy": {"en": "Economy", "ar": "اقتصاد", "es": "Economía"},
    "sports": {"en": "Sports", "ar": "رياضة", "es": "Deportes"},
    "arts-culture": {"en": "Arts & Culture", "ar": "فن وثقافة", "es": "Cultura"},
    "health": {"en": "Health", "ar": "صحة", "es": "Salud"},
    "miscellaneous": {"en": "Miscellaneous", "ar": "منوعات", "es": "Miscelánea"},
    "technology": {"en": "Technology", "ar": "تكنولوجيا", "es": "Tecnología"},
    "environment": {"en": "Environment", "ar": "بيئة", "es": "Medio ambiente"},
}
_PRIORITY_NAMES: dict[str, Names] = {
    "flash": {"en": "Flash", "ar": "عاجل جدًا", "es": "Urgente"},
    "breaking": {"en": "Breaking", "ar": "عاجل", "es": "Última hora"},
    "update": {"en": "Update", "ar": "تحديث", "es": "Actualización"},
}


class Term(BaseModel):
    """A slug as the API takes it, with its display name in each edition's language."""

    slug: str
    names: Names


class LanguageInfo(BaseModel):
    """An edition's language: `dir` is how its text runs."""

    code: str
    dir: Literal["ltr", "rtl"]
    name: str


class Meta(BaseModel):
    """The vocabulary of this node: regions from its settings, the rest from the API's models."""

    regions: list[Term]
    languages: list[LanguageInfo]
    categories: list[Term]
    priorities: list[Term]


def _names(slug: str, *tables: dict[str, Names]) -> Names:
    """The first table that names `slug` wins; an unnamed slug is shown as itself."""
    for table in tables:
        if slug in table:
            return {code: table[slug].get(code, slug) for code in LANGUAGES}
    return dict.fromkeys(LANGUAGES, slug)


def build_meta(settings: Settings) -> Meta:
    ranked = sorted(PRIORITY_RANK, key=PRIORITY_RANK.__getitem__, reverse=True)
    return Meta(
        regions=[
            Term(slug=s, names=_names(s, settings.region_names, _REGION_NAMES))
            for s in settings.regions
        ],
        languages=[
            LanguageInfo(code=c, dir="rtl" if c in _RTL else "ltr", name=_LANGUAGE_NAMES[c])
            for c in LANGUAGES
        ],
        categories=[Term(slug=s, names=_names(s, _CATEGORY_NAMES)) for s in CATEGORIES],
        priorities=[Term(slug=s, names=_names(s, _PRIORITY_NAMES)) for s in ranked],
    )


def meta_routes(settings: Settings) -> list[BaseRoute]:
    body = build_meta(settings).model_dump()

    @operation(
        Operation(
            "This node's regions, languages, categories and priorities",
            200,
            Meta,
            tags=("meta",),
            operation_id="getMeta",
        )
    )
    async def meta(request: Request) -> Response:
        # Public vocabulary: any page may read it, and a restart is the only way it changes.
        return json_response(
            body,
            headers={"cache-control": "public, max-age=60", "access-control-allow-origin": "*"},
        )

    return [Route("/v1/meta", meta, methods=["GET"])]

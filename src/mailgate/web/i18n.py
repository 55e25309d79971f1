"""Languages of the web console: gettext catalogs through Babel, negotiation, formatting.

The catalogs are the `.po` files under `web/i18n/<locale>/LC_MESSAGES/` (`messages.po` plus one
file per feature, merged); they are compiled in
memory when the app starts, so there is no build step. English is the source language.

The language of a request is the `mailgate_lang` cookie if it names one of ours, otherwise the
best match of `Accept-Language`: zh-CN/zh-SG/zh-Hans/zh -> zh_Hans, zh-TW/zh-HK/zh-MO/zh-Hant ->
zh_Hant, anything else -> en.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_LOCALE = "en"
LANG_COOKIE = "mailgate_lang"
# Each language names itself in the switcher.
LANGUAGE_NAMES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
HTML_LANG = {"zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "en": "en"}
_HANT_REGIONS = frozenset({"tw", "hk", "mo"})
_SIZE_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class Catalog:
    """The translations and formatting rules of one locale."""

    locale: str
    translations: Any  # babel.support.Translations (untyped)
    babel_locale: Any  # babel.Locale (untyped)

    def gettext(self, message: str) -> str:
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(self.translations.ngettext(singular, plural, n))

    def number(self, value: int | float) -> str:
        return str(format_decimal(value, locale=self.babel_locale))

    def date(self, value: date | None) -> str:
        return "" if value is None else str(format_date(value, "medium", locale=self.babel_locale))

    def size(self, value: int | None) -> str:
        if value is None:
            return self.gettext("unlimited")
        for unit, factor in _SIZE_UNITS:
            if value >= factor:
                amount = format_decimal(value / factor, "#,##0.#", locale=self.babel_locale)
                return f"{amount} {unit}"
        return f"{self.number(value)} B"

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.locale]


def read_catalog(locale: str) -> Any:
    """Every `.po` file of the locale merged into one babel Catalog: `messages.po` first, then
    the feature catalogs (`sessions.po`, `recovery.po`, ...) in name order."""
    folder = resources.files("mailgate.web").joinpath("i18n", locale, "LC_MESSAGES")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".po"))
    names.sort(key=lambda name: name != "messages.po")
    merged: Any = None
    for name in names:
        with folder.joinpath(name).open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        if merged is None:
            merged = catalog
            continue
        for message in catalog:
            if message.id:
                merged[message.id] = message
    return merged


@functools.cache
def _compile(locale: str) -> Any:
    """The locale's catalogs compiled; the shipped .po files do not change while we run, so
    every app built in this process (the server, each test) shares one compilation."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(locale))
    buffer.seek(0)
    return Translations(fp=buffer)


def load_catalogs() -> dict[str, Catalog]:
    """Every shipped catalog, compiled in memory (once, at app start)."""
    return {loc: Catalog(loc, _compile(loc), Locale.parse(loc)) for loc in LOCALES}


def _match(tag: str) -> str | None:
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = set(parts[1:])
    if "hant" in rest or rest & _HANT_REGIONS:
        return "zh_Hant"
    return "zh_Hans"


def negotiate(accept_language: str | None) -> str:
    """The best of our locales for an Accept-Language header (RFC 9110 weights)."""
    choices: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        found = _match(tag) if tag.strip() and tag.strip() != "*" else None
        if found is not None and weight > 0:
            choices.append((-weight, index, found))
    return min(choices)[2] if choices else DEFAULT_LOCALE


def choose_locale(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice wins over the browser's preference."""
    if cookie in LOCALES:
        assert cookie is not None  # noqa: S101 - narrowed by the membership test
        return cookie
    return negotiate(accept_language)

"""Language negotiation and the completeness of the shipped catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

import mailgate.web
from mailgate.web.i18n import LOCALES, choose_locale, load_catalogs, negotiate, read_catalog

WEB = Path(mailgate.web.__file__).parent


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh-TW", "zh_Hant"),
        ("zh-HK", "zh_Hant"),
        ("zh-MO", "zh_Hant"),
        ("zh-Hant", "zh_Hant"),
        ("zh-Hant-TW", "zh_Hant"),
        ("en-US", "en"),
        ("fr-FR, de", "en"),
        ("", "en"),
        (None, "en"),
        ("en;q=0.5, zh-TW;q=0.9", "zh_Hant"),
        ("zh-CN;q=0, en", "en"),
        ("*", "en"),
        ("zh-CN;q=bogus, zh-TW", "zh_Hant"),
    ],
)
def test_negotiate(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


def test_cookie_wins_and_bad_cookie_is_ignored() -> None:
    assert choose_locale("zh_Hant", "en") == "zh_Hant"
    assert choose_locale("klingon", "zh-CN") == "zh_Hans"


def _extracted() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    found = extract_from_dir(
        str(WEB), method_map, keywords={"_": None, "N_": None}, strip_comment_tags=True
    )
    return {msg for _, _, msg, _, _ in found if isinstance(msg, str) and msg}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    catalog = read_catalog(locale)
    translated = {m.id: m.string for m in catalog if m.id}
    used = _extracted()
    assert len(used) > 50
    missing = sorted(m for m in used if not translated.get(m))
    assert not missing, f"{locale} lacks translations for {missing}"


def test_catalogs_compile_and_format() -> None:
    catalogs = load_catalogs()
    assert catalogs["zh_Hans"].gettext("Roster") == "花名册"
    assert catalogs["zh_Hant"].gettext("Roster") == "員工名冊"
    assert catalogs["en"].gettext("Roster") == "Roster"
    assert catalogs["en"].number(12345) == "12,345"
    assert catalogs["zh_Hans"].size(2 * 1024**3) == "2 GiB"
    assert catalogs["en"].size(None) == "unlimited"
    assert catalogs["zh_Hant"].size(None) == "不限"

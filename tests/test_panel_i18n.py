"""The panel's catalogs: every template string extracted is in the template and in each language's catalog,
translated, not fuzzy, with the same placeholders; formats follow the locale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from suvar.api.panel import environment
from suvar.panel import i18n

PANEL = Path(i18n.__file__).parent
#: Strings spelled the same in a translation (checked by a speaker, not left untranslated).
SAME_IN_TRANSLATION = {"az": {"administrator", "Plan %(index)s: %(scenario)s"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str]:
    """The msgids of the templates, as ``pybabel extract -F src/suvar/panel/babel.cfg`` finds them."""
    found = extract_from_dir(PANEL / "templates", method_map=[("**.html", "jinja2")],
                             options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})
    return {message for _f, _l, message, _c, _ctx in found}


def catalog(path: Path, locale: str | None = None):  # noqa: ANN201
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def test_the_template_catalog_holds_every_string_of_the_templates() -> None:
    ids = extracted()
    assert len(ids) > 150
    pot = {m.id for m in catalog(i18n.LOCALE_DIR / "messages.pot") if m.id}
    assert ids - pot == set(), "strings missing from messages.pot: run pybabel extract (README, Panel)"
    assert pot - ids == set(), "messages.pot holds strings no template uses"


@pytest.mark.parametrize("locale", [code for code in i18n.LOCALES if code != i18n.DEFAULT])
def test_every_string_is_translated(locale: str) -> None:
    po = catalog(i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    entries = {m.id: m for m in po if m.id}
    missing = extracted() - set(entries)
    assert not missing, f"{locale}: strings not in the catalog: {sorted(missing)[:10]}"
    untranslated = [m.id for m in entries.values() if not m.string]
    fuzzy = [m.id for m in entries.values() if m.fuzzy]
    assert not untranslated, f"{locale}: untranslated: {untranslated[:10]}"
    assert not fuzzy, f"{locale}: fuzzy: {fuzzy[:10]}"
    assert not po.obsolete, f"{locale}: obsolete entries: {list(po.obsolete)[:10]}"
    for m in entries.values():
        assert sorted(PLACEHOLDER.findall(m.string)) == sorted(PLACEHOLDER.findall(m.id)), (locale, m.id)
    same = {m.id for m in entries.values() if m.string == m.id and len(m.id) > 8}
    same -= SAME_IN_TRANSLATION.get(locale, set())
    assert not same, f"{locale}: strings left in English: {same}"


def test_templates_render_in_each_language() -> None:
    for locale, words in {"en": "Log in to Suvar", "az": "Suvar sisteminə daxil olun", "ru": "Вход в Suvar"}.items():
        html = environment(locale).get_template("login.html").render(
            path="/login", query={}, user=None, locale=locale, locales=i18n.LOCALES, next="/", kiosk=False,
            can=lambda _r: False, urlencode=str)
        assert words in html and f'lang="{locale}"' in html


def test_numbers_and_dates_follow_the_locale() -> None:
    assert i18n.number(12345.678, "en", 1) == "12,345.7"
    assert i18n.number(12345.678, "ru", 1) == "12\u00a0345,7"
    assert i18n.number(12345.678, "az", 1) == "12.345,7"
    assert i18n.percent(12.345, "en") == "12.3%"
    assert i18n.percent(12.345, "ru") == "12,3\u00a0%"
    assert i18n.day("2026-10-04", "en") == "Oct 4, 2026"
    assert i18n.day("2026-10-04", "ru") == "4 окт. 2026\u202fг."
    assert i18n.number(None, "en") == i18n.number(float("nan"), "ru") == "–"
    assert i18n.pick("ru-RU") == "ru" and i18n.pick(None, "fr", "az") == "az" and i18n.pick("de") == "en"

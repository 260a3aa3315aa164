"""The panel's languages: gettext catalogs (English source, Azerbaijani and Russian translations) and the
locale's formats for numbers and dates.

The catalogs are the ``.po`` files in ``panel/locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory
when first used (no compiled ``.mo`` file to keep in step). ``messages.pot`` is the template extracted from
the templates and ``suvar.api.panel`` (``tests/test_panel_i18n.py`` checks all three agree). Numbers and
dates are formatted with Babel (CLDR data) on the server; the browser formats chart axes with ``Intl`` in the
same locale.
"""

from __future__ import annotations

import functools
import io
import math
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: Locale code -> its own name (as shown in the language switch).
LOCALES = {"en": "English", "az": "Azərbaycanca", "ru": "Русский"}
DEFAULT = "en"
#: Name of the cookie that keeps a language chosen in the switch.
COOKIE = "suvar_lang"


def pick(*candidates: str | None) -> str:
    """The first candidate that is a supported locale (``ru-RU`` counts as ``ru``), else English."""
    for c in candidates:
        code = (c or "").replace("_", "-").split("-")[0].lower()
        if code in LOCALES:
            return code
    return DEFAULT


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English: the source strings themselves)."""
    if locale == DEFAULT:
        return NullTranslations()
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | int | None, locale: str, digits: int = 0) -> str:
    """A number in the locale's format with ``digits`` decimals; an en dash when there is none."""
    if _missing(value):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(round(float(value), digits), format=pattern, locale=locale)


def percent(value: float | None, locale: str, digits: int = 1) -> str:
    """A percentage given in percent (12.5 -> 12.5 %), in the locale's format."""
    if _missing(value):
        return "–"
    pattern = Locale.parse(locale).percent_formats[None].pattern
    pattern = pattern.replace("#,##0", "#,##0" + ("." + "0" * digits if digits else ""), 1)
    return format_percent(float(value) / 100, format=pattern, locale=locale)


def day(value: str | date | datetime | pd.Timestamp | None, locale: str) -> str:
    """A date in the locale's medium format."""
    if value is None or value is pd.NaT:
        return "–"
    return format_date(pd.Timestamp(value).date(), format="medium", locale=locale)


def moment(value: str | datetime | pd.Timestamp | None, locale: str) -> str:
    """A UTC date and time in the locale's short format."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–"
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return format_datetime(ts.to_pydatetime(), format="medium", tzinfo=ts.tzinfo, locale=locale)

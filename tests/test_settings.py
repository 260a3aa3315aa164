"""Every setting is documented in the README, and settings are read as documented."""

from pathlib import Path

import pytest

from suvar.config import SETTINGS_DOC, Settings, load_settings

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(SETTINGS_DOC))
def test_setting_documented_in_readme(name: str) -> None:
    assert f"`{name}`" in README, f"{name} is not documented in the README's settings table"


def test_every_field_has_a_setting() -> None:
    names = {f"SUVAR_{k.upper()}" for k in Settings.__dataclass_fields__ if k != "limits"}
    assert names <= set(SETTINGS_DOC)


def test_environment_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "suvar.toml"
    cfg.write_text('port = 9000\n[limits.pressure]\nmin = 0\nmax = 120\n')
    s = load_settings({"SUVAR_CONFIG": str(cfg), "SUVAR_PORT": "9100", "SUVAR_DB": "x.duckdb"})
    assert (s.port, s.db, s.limits["pressure"]) == (9100, "x.duckdb", (0.0, 120.0))
    assert load_settings({}).host == "127.0.0.1"


def test_bad_settings_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="future_tolerance_s"):
        load_settings({"SUVAR_FUTURE_TOLERANCE_S": "soon"})
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[limits.pressure]\nmin = 0\n")
    with pytest.raises(ValueError, match=r"limits\.pressure"):
        load_settings({"SUVAR_CONFIG": str(cfg)})

"""Settings, read from the environment (and an optional TOML file) with safe defaults.

Every setting is documented in the README's "Settings" table; ``tests/test_settings.py`` fails when one is not.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

#: Physical plausibility limits per sensor kind, in the kind's canonical unit (see ``suvar.telemetry.units``).
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "pressure": (-10.0, 250.0),  # m head: slightly negative is a real (transient) reading, 25 bar is not
    "flow": (-20_000.0, 20_000.0),  # m3/h; negative is a reversed flow through a bidirectional meter
    "level": (-1.0, 100.0),  # m
    "volume": (0.0, 1.0e9),  # m3 (interval or register volume)
    "quality": (-1.0e6, 1.0e6),  # unit-specific, wide by default
}

SETTINGS_DOC = {
    "SUVAR_DB": "store location: a DuckDB file path (default var/suvar.duckdb) or a postgresql:// URL "
                "(the PostgreSQL server store, for many writing processes)",
    "SUVAR_CONFIG": "optional TOML file with [limits.<kind>] min/max and the other settings in lower case",
    "SUVAR_HOST": "address the server listens on (default 127.0.0.1)",
    "SUVAR_PORT": "port the server listens on (default 8000)",
    "SUVAR_FUTURE_TOLERANCE_S": "how far in the future a reading may be stamped, in seconds (default 300)",
    "SUVAR_MAX_BATCH": "most readings accepted in one HTTP batch (default 100000)",
    "SUVAR_MAX_BODY_BYTES": "largest HTTP request body accepted, in bytes (default 16777216)",
    "SUVAR_SESSION_TTL_S": "lifetime of a login session, in seconds (default 28800, 8 hours)",
    "SUVAR_RATE_LIMIT_PER_MIN": "requests per minute allowed to each API token or user, as a token bucket "
                                "(default 1200; 0 turns the limit off)",
    "SUVAR_OIDC_ISSUER": "OpenID Connect issuer URL for single sign-on (empty: OIDC login off)",
    "SUVAR_OIDC_CLIENT_ID": "the client id registered with the OIDC issuer",
    "SUVAR_OIDC_CLIENT_SECRET": "the client secret registered with the OIDC issuer",
    "SUVAR_OIDC_REDIRECT_URI": "the callback URL registered with the issuer (default: this server's "
                               "/api/v1/oidc/callback)",
    "SUVAR_OIDC_USERNAME_CLAIM": "ID-token claim naming the local user (default preferred_username)",
    "SUVAR_CACHE_DIR": "folder for what is kept between runs to save recomputing it: the simulated leak signatures "
                       "of each network model (default var/cache; empty: keep nothing)",
    "SUVAR_JOBS_INTERVAL_S": "seconds between the server's scheduled passes (zone balances, sensor faults); "
    "0 turns them off (default 3600)",
}


@dataclass(frozen=True)
class Settings:
    db: str = "var/suvar.duckdb"
    host: str = "127.0.0.1"
    port: int = 8000
    future_tolerance_s: float = 300.0
    max_batch: int = 100_000
    max_body_bytes: int = 16 * 1024 * 1024
    session_ttl_s: float = 8 * 3600.0
    rate_limit_per_min: float = 1200.0
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = ""
    oidc_username_claim: str = "preferred_username"
    jobs_interval_s: float = 3600.0
    cache_dir: str = "var/cache"
    limits: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from ``SUVAR_CONFIG`` (TOML), overridden by ``SUVAR_*`` environment variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    limits = dict(DEFAULT_LIMITS)
    cfg_path = env.get("SUVAR_CONFIG")
    if cfg_path:
        try:
            cfg = tomllib.loads(Path(cfg_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{cfg_path}: cannot read the settings file: {exc}") from exc
        for kind, lim in cfg.pop("limits", {}).items():
            if kind not in limits or not {"min", "max"} <= set(lim):
                raise ValueError(f"{cfg_path}: [limits.{kind}] needs a known kind and both min and max")
            limits[kind] = (float(lim["min"]), float(lim["max"]))
        values.update(cfg)
    for name in SETTINGS_DOC:
        key = name.removeprefix("SUVAR_").lower()
        if name in env and key not in ("config",):
            values[key] = env[name]
    typed: dict[str, object] = {}
    for key, default in Settings.__dataclass_fields__.items():
        if key in values and key != "limits":
            try:
                typed[key] = type(getattr(Settings(), key))(values[key])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"setting {key!r}: expected {default.type}, got {values[key]!r}") from exc
    return Settings(**typed, limits=limits)

"""Roles, rights and scopes: the one permission table the API and the panel both use.

A *right* is what a request needs (``read``, ``ingest``, ``operate``, ``allocate``, ``audit``, ``admin``); a *role*
grants a fixed set of rights (:data:`PERMISSIONS`); an API token grants the rights named by its scopes (the
``admin`` scope grants every right, as the ``admin`` role does). Every identity also has a *scope*, the part of
the country it may see and act on:

- ``country``: everything;
- ``utility:<utility_id>``: that utility's network, sensors, telemetry, balances and alarms;
- ``basin:<basin name>``: the utilities whose ``basin`` is that name, the basin's alarms and its allocation plans.

Everything is denied unless a rule grants it (IEC 62443-3-3 SR 2.1, least privilege; OWASP ASVS 4.0.3 V4.1.3,
V4.1.5 "deny by default").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RIGHTS = ("read", "ingest", "operate", "allocate", "audit", "admin")

#: role -> rights. ``commission`` is the allocation commission; ``auditor`` reads the audit log.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(RIGHTS),
    "operator": frozenset({"read", "ingest", "operate"}),
    "analyst": frozenset({"read"}),
    "commission": frozenset({"read", "allocate"}),
    "auditor": frozenset({"read", "audit"}),
    "viewer": frozenset({"read"}),
}
ROLES = tuple(PERMISSIONS)

#: Roles whose users must pass a second factor (TOTP) to log in: IEC 62443 SL3 functions (administration,
#: allocation decisions), OWASP ASVS L3 V2.2.
TOTP_REQUIRED_ROLES = frozenset({"admin", "commission"})


class ScopeError(ValueError):
    """A scope that is not ``country``, ``utility:<id>`` or ``basin:<name>``."""


def check_role(role: str) -> str:
    if role not in PERMISSIONS:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_scope(scope: str) -> str:
    """``scope`` if it is well formed, else :class:`ScopeError`."""
    if scope == "country":
        return scope
    kind, _, name = scope.partition(":")
    if kind not in ("utility", "basin") or not name.strip():
        raise ScopeError(f"scope must be country, utility:<utility_id> or basin:<basin name>, not {scope!r}")
    return scope


def rights_of_scopes(scopes: str | list[str]) -> frozenset[str]:
    """The rights an API token's scopes grant: each scope is the right of the same name; ``admin`` grants all."""
    names = set(scopes.split() if isinstance(scopes, str) else scopes)
    return frozenset(RIGHTS) if "admin" in names else frozenset(names & set(RIGHTS))


@dataclass(frozen=True)
class Identity:
    """Who makes a request: a logged-in user (``kind='user'``) or an API token (``kind='token'``)."""

    name: str
    kind: str
    rights: frozenset[str]
    scope: str = "country"
    role: str | None = None
    locale: str = "en"
    device_id: str | None = None
    key: str = ""  # rate-limit key: the token hash or the user name

    def can(self, right: str) -> bool:
        return right in self.rights

    @property
    def country(self) -> bool:
        return self.scope == "country"

    def allows_utility(self, utility_id: str | None, basin_of: Mapping[str, str | None] | None = None) -> bool:
        """May this identity see and act on ``utility_id``? ``basin_of`` maps utility ids to their basin."""
        if self.country:
            return True
        kind, _, name = self.scope.partition(":")
        if kind == "utility":
            return utility_id == name
        return bool(utility_id) and (basin_of or {}).get(utility_id) == name

    def allows_basin(self, basin: str | None) -> bool:
        """May this identity act on the basin named ``basin`` (publish its allocation plans)?"""
        return self.country or (self.scope.startswith("basin:") and self.scope.removeprefix("basin:") == basin)

    def allows_area(self, area: str | None, basin_of: Mapping[str, str | None] | None = None) -> bool:
        """An alarm's scope (a utility id or a basin name) inside this identity's scope?"""
        return self.allows_utility(area, basin_of) or self.allows_basin(area)

    def public(self) -> dict[str, str | None]:
        """What ``GET /api/v1/me`` and the login answer show."""
        return {"username": self.name, "role": self.role, "scope": self.scope, "locale": self.locale}


@dataclass(frozen=True)
class Rule:
    """What a route needs: a ``right`` (None: any authenticated identity) and which part of the request names
    the data to check against the identity's scope:

    - ``"utility"``: the ``utility_id`` path parameter;
    - ``"sensor"``: the ``sensor_id`` path parameter (the sensor's utility);
    - ``"alarm"``: the ``alarm_id`` path parameter (the alarm's utility or basin);
    - ``"handler"``: the handler filters or checks what it returns or writes (lists, batches, plans);
    - None: the route touches no scoped data (computations over the request body).

    ``right_by_param`` overrides ``right`` for one path parameter's values (``{"ledger": {"allocation": "read",
    "*": "audit"}}``: published plans are readable, any other ledger, the audit log, needs ``audit``).
    """

    right: str | None
    scope: str | None = None
    right_by_param: tuple[str, Mapping[str, str]] | None = None

    def right_for(self, path_params: Mapping[str, str]) -> str | None:
        if self.right_by_param:
            param, table = self.right_by_param
            value = path_params.get(param)
            return table.get(value, table["*"]) if value is not None else table["*"]
        return self.right


PUBLIC = Rule(right=None, scope="public")

#: (method, path template) -> rule, for every route of the API. A route missing here is refused (403) and fails
#: the role x route matrix test (tests/test_security_matrix.py).
ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/"): PUBLIC,  # the panel's HTML shell holds no data; its data come from the API below
    ("GET", "/api/v1/health"): PUBLIC,  # status and schema version only
    ("POST", "/api/v1/login"): PUBLIC,
    ("POST", "/api/v1/logout"): PUBLIC,
    ("GET", "/api/v1/oidc/login"): PUBLIC,
    ("GET", "/api/v1/oidc/callback"): PUBLIC,
    ("GET", "/api/v1/me"): Rule(None),
    ("GET", "/api/v1/utilities"): Rule("read", "handler"),
    ("GET", "/api/v1/utilities/{utility_id}/zones"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/network.geojson"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/zones/{zone_id}/series"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/zones/{zone_id}/balance"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/zones/{zone_id}/nightflow"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/balances"): Rule("read", "utility"),
    ("GET", "/api/v1/utilities/{utility_id}/report.html"): Rule("read", "utility"),
    ("GET", "/api/v1/sensors"): Rule("read", "handler"),
    ("GET", "/api/v1/sensors/{sensor_id}/series"): Rule("read", "sensor"),
    ("POST", "/api/v1/audit"): Rule("read"),
    ("POST", "/api/v1/projects/rank"): Rule("read"),
    ("POST", "/api/v1/allocation/compare"): Rule("read"),
    ("POST", "/api/v1/allocation/report.html"): Rule("read"),
    ("POST", "/api/v1/allocation/deliveries"): Rule("read"),
    ("POST", "/api/v1/allocation/publish"): Rule("allocate", "handler"),
    ("GET", "/api/v1/ledger/{ledger}"): Rule("read", right_by_param=("ledger", {"allocation": "read", "*": "audit"})),
    ("GET", "/api/v1/ledger/{ledger}/verify"): Rule("read", right_by_param=("ledger", {"allocation": "read",
                                                                                       "*": "audit"})),
    ("GET", "/api/v1/alarms"): Rule("read", "handler"),
    ("POST", "/api/v1/alarms/{alarm_id}/{action}"): Rule("operate", "alarm"),
    ("POST", "/api/v1/readings"): Rule("ingest", "handler"),
    ("GET", "/api/v1/quarantine"): Rule("read", "handler"),
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route, or None (deny) when it has none."""
    return ROUTE_RULES.get((method.upper(), path))


def add_rules(rules: Mapping[tuple[str, str], Rule]) -> None:
    """Register the rules of routes added elsewhere (the panel); an existing rule is never replaced."""
    clash = sorted(set(rules) & set(ROUTE_RULES))
    if clash:
        raise ValueError(f"routes already have rules: {clash}")
    ROUTE_RULES.update(rules)


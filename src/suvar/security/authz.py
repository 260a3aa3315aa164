"""Request authorisation: who is asking (bearer token or session cookie), and may they, by the route's rule?

The API calls :func:`identify` and :func:`authorize` for every request that matches a route, before the route
reads its body; a route without a rule in :data:`~suvar.security.roles.ROUTE_RULES` is refused. 401 means "not
authenticated" (no or a bad credential), 403 "authenticated, but not allowed" (a right the role or token lacks,
or data outside the identity's scope), as RFC 9110 sections 15.5.2 and 15.5.4 define them.
"""

from __future__ import annotations

from collections.abc import Mapping

from suvar.security.roles import Identity, Rule
from suvar.security.sessions import session_identity
from suvar.security.tokens import TokenError, token_identity
from suvar.store import Store

BEARER = {"WWW-Authenticate": "Bearer"}


class Denied(Exception):
    """A refused request: HTTP ``status``, a ``detail`` for the client and response ``headers``."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def identify(store: Store, authorization: str | None, session_id: str | None) -> Identity | None:
    """The identity behind a request's ``Authorization: Bearer`` header or session cookie (the header wins);
    None when it sends neither; :class:`Denied` (401) when what it sends is not valid."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Denied(401, "use Authorization: Bearer <token>", BEARER)
        try:
            return token_identity(store, token.strip())
        except TokenError as exc:
            raise Denied(401, str(exc), BEARER) from None
    if session_id:
        identity = session_identity(store, session_id)
        if identity is None:
            raise Denied(401, "session expired or unknown: log in again", BEARER)
        return identity
    return None


def describe(identity: Identity) -> str:
    return f"role {identity.role!r}" if identity.kind == "user" else f"token {identity.name!r}"


def authorize(store: Store, identity: Identity | None, rule: Rule, path_params: Mapping[str, str]) -> None:
    """Raise :class:`Denied` unless ``identity`` may make a request that ``rule`` governs."""
    if identity is None:
        raise Denied(401, "log in or send Authorization: Bearer <token>", BEARER)
    right = rule.right_for(path_params)
    if right is not None and not identity.can(right):
        raise Denied(403, f"{describe(identity)} lacks the {right!r} right")
    if identity.country:
        return
    if rule.scope == "utility":
        utility = path_params.get("utility_id")
        if not identity.allows_utility(utility, basins(store, identity)):
            raise Denied(403, f"utility {utility!r} is outside the scope {identity.scope}")
    elif rule.scope == "sensor":
        owner = store.sensor_owners().get(path_params.get("sensor_id", ""))
        if owner is not None and not identity.allows_utility(owner[0], basins(store, identity)):
            raise Denied(403, f"sensor {path_params.get('sensor_id')!r} is outside the scope {identity.scope}")
    elif rule.scope == "alarm":
        try:
            alarm_id = int(path_params.get("alarm_id", ""))
        except ValueError:
            return  # the route answers 422
        area = store.alarm_scope(alarm_id)
        if area is not None and not identity.allows_area(area, basins(store, identity)):
            raise Denied(403, f"alarm {alarm_id} is outside the scope {identity.scope}")


def basins(store: Store, identity: Identity) -> dict[str, str | None]:
    """utility -> basin, read only for a basin-scoped identity (the only kind that needs it)."""
    return store.utility_basins() if identity.scope.startswith("basin:") else {}


def writable_sensors_problem(store: Store, identity: Identity, sensor_ids: list[str]) -> str | None:
    """Why ``identity`` may not ingest readings of some of ``sensor_ids``, or None. A device token writes only
    the sensors bound to its device; anyone else only the sensors of utilities in its scope. Unknown sensors
    are left to validation (they are quarantined as ``unknown_sensor``)."""
    if identity.country and identity.device_id is None:
        return None
    owners = store.sensor_owners()
    utility_basins = basins(store, identity)
    bad = []
    for sensor in sensor_ids:
        owner = owners.get(sensor)
        if owner is None:
            continue
        utility, device = owner
        wrong_device = identity.device_id is not None and device != identity.device_id
        if wrong_device or not identity.allows_utility(utility, utility_basins):
            bad.append(sensor)
    if not bad:
        return None
    whose = f"device {identity.device_id!r}" if identity.device_id else f"the scope {identity.scope}"
    return f"{len(bad)} sensor(s) not writable by {whose}: {', '.join(sorted(bad)[:5])}"

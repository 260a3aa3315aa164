"""The tamper-evident audit log: every write, with who, what, when and from where, in a hash chain.

Entries go to the ``audit`` ledger in the store (:class:`suvar.ledger.DatabaseLedgerStore`); each holds
``at`` (UTC, ISO 8601), ``who`` (token name, device or operating-system user), ``action``, ``what`` (the
write's own figures: counts, ids) and ``where`` (client address or command). ``suvar audit-log verify``
detects any edit, deletion or reordering; keeping the head hash elsewhere also catches a cut tail.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from suvar.ledger import DatabaseLedgerStore
from suvar.store import Store

AUDIT_LEDGER = "audit"


def record(store: Store, who: str, action: str, what: dict[str, Any], where: str | None = None) -> dict:
    """Append one write to the audit log; returns the ledger entry."""
    content = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "who": who, "action": action,
               "what": what, "where": where}
    return DatabaseLedgerStore(store, AUDIT_LEDGER).append_content(content)


def local_user() -> str:
    """Who runs a command on this machine."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"

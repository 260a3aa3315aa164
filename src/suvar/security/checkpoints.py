"""Signed checkpoints of the audit log: Ed25519 signatures over ``{ledger, length, head, time}``.

A hash chain shows any edit, deletion or reordering, but not a cut tail or a wholesale rewrite by someone who can
write the database: both leave a valid chain. A checkpoint exported for safekeeping elsewhere (another machine,
an auditor, paper) closes that gap: it names the chain's length and head hash at a moment, signed with a key
that does not live beside the database. Later, ``verify_checkpoint`` checks the signature and that the stored
chain still *extends* the checkpoint: it is intact, at least as long, and its entry at ``length - 1`` has the
checkpoint's head hash.

Signatures are Ed25519 (RFC 8032, section 5.1) through ``cryptography``, over the canonical JSON of the
checkpoint without its ``signature`` field (:func:`suvar.ledger.canonical_json`). Keys are PEM files: PKCS #8
for the private key (mode 0600) and SubjectPublicKeyInfo for the public one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from suvar.ledger import GENESIS_HASH, DatabaseLedgerStore, canonical_json, verify
from suvar.security.audit_log import AUDIT_LEDGER
from suvar.store import Store

SIGNED_FIELDS = ("ledger", "length", "head", "time", "key_id")


class CheckpointError(ValueError):
    """A key or checkpoint file that cannot be used; the message names the file."""


def _write_new(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise CheckpointError(f"{path}: already exists; a key is never overwritten") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate_key(private_path: str | Path, public_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair: the private key (mode 0600) and the public key (default ``PRIVATE.pub``)."""
    private_path = Path(private_path)
    public_path = Path(public_path) if public_path else private_path.with_name(private_path.name + ".pub")
    key = Ed25519PrivateKey.generate()
    _write_new(private_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), 0o600)
    _write_new(public_path, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return private_path, public_path


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key in a checkpoint."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path}: not an Ed25519 public key")
    return key


def make_checkpoint(store: Store, key: Ed25519PrivateKey, ledger: str = AUDIT_LEDGER,
                    now: datetime | None = None) -> dict[str, Any]:
    """Sign the current length and head of ``ledger``; refuses a chain that does not verify."""
    report = verify(DatabaseLedgerStore(store, ledger))
    if not report["ok"]:
        raise CheckpointError(f"ledger {ledger!r} fails verification, not signing it: {report['problems'][0]}")
    body = {"ledger": ledger, "length": report["entries"], "head": report["head"],
            "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"), "key_id": key_id(key.public_key())}
    return {**body, "signature": base64.b64encode(key.sign(canonical_json(body))).decode()}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        checkpoint = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint: {exc}") from None
    missing = [f for f in (*SIGNED_FIELDS, "signature") if f not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return checkpoint


def verify_checkpoint(store: Store, checkpoint: dict[str, Any], public: Ed25519PublicKey) -> dict[str, Any]:
    """Check a checkpoint's signature and that the stored chain extends it. Returns ``{"ok", "signature_ok",
    "chain_ok", "extends", "checkpoint_length", "current_length", "problems"}``."""
    problems: list[str] = []
    body = {f: checkpoint[f] for f in SIGNED_FIELDS}
    try:
        public.verify(base64.b64decode(checkpoint["signature"], validate=True), canonical_json(body))
        signature_ok = True
    except (InvalidSignature, ValueError):
        signature_ok = False
        problems.append("the signature does not verify with this public key (checkpoint altered or wrong key)")
    ledger = DatabaseLedgerStore(store, checkpoint["ledger"])
    report = verify(ledger)
    if not report["ok"]:
        problems += [f"entry {p['index']}: {p['problem']}" for p in report["problems"]]
    length = int(checkpoint["length"])
    head_then = GENESIS_HASH
    if length:
        for pos, entry in enumerate(ledger.entries()):
            if pos == length - 1:
                head_then = entry.get("hash")
                break
        else:
            head_then = None
    extends = report["entries"] >= length and head_then == checkpoint["head"]
    if report["entries"] < length:
        problems.append(f"the log holds {report['entries']} entries, fewer than the checkpoint's {length} "
                        "(its tail was cut)")
    elif head_then != checkpoint["head"]:
        problems.append(f"entry {length - 1} no longer has the checkpoint's head hash (the log was rewritten)")
    return {"ok": not problems, "signature_ok": signature_ok, "chain_ok": report["ok"], "extends": extends,
            "checkpoint_length": length, "current_length": report["entries"], "problems": problems}

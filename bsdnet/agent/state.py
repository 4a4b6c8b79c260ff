"""state_dir/state.json: what this agent programmed, by topology id.

Read by the sandbox (instance, networks, ports, fabric) and by a restarted
agent to adopt live tables.  Replaced whole (write_atomic), not durably:
the tables it describes do not outlive a reboot, and an unreadable file is
ignored.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from typing import Any

from bsdnet.common.files import write_atomic

LOG = logging.getLogger(__name__)

STATE_FILE = "state.json"


def empty_state(instance: int) -> dict[str, Any]:
    return {"instance": instance, "networks": {}, "ports": {}, "fabric": {},
            "remote": {}}


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def load(state_dir: str) -> dict[str, Any] | None:
    """The saved state, or None if there is none (or it is unreadable)."""
    path = state_path(state_dir)
    try:
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        LOG.warning("ignoring unreadable state file %s: %s", path, e)
        return None
    if not isinstance(st, dict) or "instance" not in st:
        LOG.warning("ignoring state file %s: no instance", path)
        return None
    for k in ("networks", "ports", "fabric", "remote"):
        st.setdefault(k, {})
    return st


def save(state_dir: str, st: dict[str, Any]) -> None:
    os.makedirs(state_dir, exist_ok=True)
    # dumps() without indent: only that runs json's C encoder, and this
    # file is rewritten on every port change.
    write_atomic(state_path(state_dir), json.dumps(st, sort_keys=True) + "\n",
                 durable=False)


def write_text(state_dir: str, name: str, text: str) -> None:
    """A small file beside state.json (e.g. api-url), replaced whole."""
    os.makedirs(state_dir, exist_ok=True)
    write_atomic(os.path.join(state_dir, name), text, mode=0o644,
                 durable=False)


def token(path: str) -> str:
    """The shared secret in path, made (random, mode 0600) if missing."""
    try:
        with open(path, encoding="ascii") as f:
            tok = f.read().strip()
        if tok:
            return tok
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tok = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(tok + "\n")
    return tok

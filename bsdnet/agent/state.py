"""state_dir/state.json: what this agent programmed, by topology id.

Read by the sandbox (instance, networks, ports, fabric) and by a restarted
agent to adopt live tables.  Written atomically: temp file, fsync, rename.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from typing import Any

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
    fd, tmp = tempfile.mkstemp(prefix=".state.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # One dumps() without indent: only that runs json's C encoder
            # (dump() streams through the Python one), and this file is
            # rewritten on every port change.
            f.write(json.dumps(st, sort_keys=True))
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, state_path(state_dir))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(state_dir: str, name: str, text: str) -> None:
    """A small file beside state.json (e.g. api-url), replaced atomically."""
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, name)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


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

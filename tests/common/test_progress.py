"""Progress lines: on a terminal only."""
from __future__ import annotations

import io
import os
import pty

from bsdnet.common.progress import Progress


def test_nothing_when_not_a_terminal():
    out = io.StringIO()
    with Progress("ports", 3, stream=out) as p:
        for _ in range(3):
            p.step()
    assert out.getvalue() == ""


def test_a_line_that_counts_on_a_terminal():
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        with Progress("ports", 3, stream=tty) as p:
            p.EVERY = 0
            for _ in range(3):
                p.step(note="x")
    out = os.read(master, 4096).decode()
    os.close(master)
    assert "\rports: 1/3 x" in out and "\rports: 3/3 x" in out and out.endswith("\n")

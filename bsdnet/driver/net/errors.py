"""Errors raised by the network driver.  Every message names the interface
and says what to do, because an operator reads them in nova-compute's log."""

from __future__ import annotations


class NetDriverError(Exception):
    """Base class: anything the network driver refuses or fails to do."""


class InvalidName(NetDriverError):
    """A name is too long, empty, or carries characters we refuse."""


class NotOwned(NetDriverError):
    """An interface exists with the name we need and bsdnet did not make it."""


class MtuMismatch(NetDriverError):
    """A bridge member's MTU differs from the bridge's and cannot be fixed."""


class AddressConflict(NetDriverError):
    """An uplink carries addresses that FreeBSD will not allow on a member."""


class Unsupported(NetDriverError):
    """The host lacks something the request needs (for example 802.1Q)."""


class BackendError(NetDriverError):
    """The OS refused an operation; carries the command or call and its error."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what
        self.detail = detail

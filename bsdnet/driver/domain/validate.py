"""Checks for every string that reaches domain XML or a command line.

ElementTree escapes markup, but escaping alone is not enough: bhyve's own
argument syntax is comma separated (``-s 2:0,ahci,hd:/path``), grub-bhyve's
device map is whitespace separated, and XML 1.0 cannot carry most control
characters at all.  So values are checked against what the consumer can
take, and rejected rather than silently altered.
"""

from __future__ import annotations

import re

from bsdnet.common import names
from bsdnet.driver.domain.errors import DomainConfigError

# FreeBSD's VM_MAX_NAMELEN is 32 including the NUL; libvirt passes the
# domain name to bhyve and vmm(4) as the VM name.
VM_NAME_MAX = 31
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# Characters XML 1.0 cannot represent (ElementTree would write them anyway).
_XML_BAD_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PATH_BAD_RE = re.compile(r"[\x00-\x1f\x7f,]|\s")


def check_name(name: str) -> str:
    """Return a domain name fit for libvirt and vmm(4), or raise."""
    if not isinstance(name, str) or not name:
        raise DomainConfigError("domain name must be a non-empty string")
    if len(name) > VM_NAME_MAX:
        raise DomainConfigError(f"domain name {name!r} longer than {VM_NAME_MAX} characters (vmm limit)")
    if not _NAME_RE.match(name):
        raise DomainConfigError(f"domain name {name!r} may hold only letters, digits, '_', '.', '-'")
    return name


def check_uuid(value: str) -> str:
    """Return the canonical form of a UUID string, or raise."""
    return names.check_uuid(value, error=DomainConfigError)


def check_mac(mac: str) -> str:
    """Return a lower-case unicast MAC address, or raise."""
    return names.check_mac(mac, error=DomainConfigError)


def check_path(path: str) -> str:
    """Return an absolute path that bhyve's comma-separated options can carry."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise DomainConfigError(f"path must be absolute: {path!r}")
    if _PATH_BAD_RE.search(path):
        raise DomainConfigError(f"path holds a comma, space or control character: {path!r}")
    if any(part == ".." for part in path.split("/")):
        raise DomainConfigError(f"path must not climb with '..': {path!r}")
    return path


def check_ifname(name: str) -> str:
    """Return an interface name that fits IFNAMSIZ and ifconfig's argv, or raise."""
    return names.check_ifname(name, error=DomainConfigError)


def check_text(text: str, what: str = "text", max_len: int = 1024) -> str:
    """Return a free-text string (metadata, display names) XML can carry, or raise."""
    if not isinstance(text, str):
        raise DomainConfigError(f"{what} must be a string")
    if len(text) > max_len:
        raise DomainConfigError(f"{what} longer than {max_len} characters")
    if _XML_BAD_RE.search(text):
        raise DomainConfigError(f"{what} holds characters XML cannot carry")
    return text

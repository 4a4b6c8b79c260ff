"""Errors raised while building, checking or parsing a domain model."""


class DomainConfigError(ValueError):
    """A value cannot be put into a domain definition (bad name, MAC, path...)."""


class UnsupportedConfig(DomainConfigError):
    """libvirt's bhyve driver cannot express this setting.

    Raised before anything reaches libvirt, so a spawn fails with a clear
    reason instead of defining a domain bhyve would refuse to start.
    """

"""Errors of the compute driver (Nova's exceptions are used when Nova is loaded)."""


class ComputeError(Exception):
    """Base of compute driver errors."""


class ImageError(ComputeError):
    """An image could not be fetched or converted."""


class InstanceNotFound(ComputeError):
    """No domain for this instance."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id} not found")
        self.instance_id = instance_id


class InstanceNotRunning(ComputeError):
    """The operation needs a running guest."""

    def __init__(self, instance_id: str, what: str) -> None:
        super().__init__(f"instance {instance_id} is not running: cannot {what}")
        self.instance_id = instance_id


class SpawnError(ComputeError):
    """Spawn failed; everything it made has been removed."""


class ConfigDriveError(ComputeError):
    """The config drive could not be built."""


class GuestConfigError(ComputeError):
    """The flavor or image asks for a guest no bhyve host can run (memory,
    vCPUs, CPU topology): refused before anything is made."""


class HostLimitExceeded(ComputeError):
    """The guest is bigger than this host can give one guest (another host may)."""


class ConsoleUnavailable(ComputeError):
    """The guest has no console of that kind (or it is not running)."""

    def __init__(self, console_type: str, reason: str) -> None:
        super().__init__(reason)
        self.console_type = console_type

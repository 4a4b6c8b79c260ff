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


class SpawnError(ComputeError):
    """Spawn failed; everything it made has been removed."""


class ConfigDriveError(ComputeError):
    """The config drive could not be built."""

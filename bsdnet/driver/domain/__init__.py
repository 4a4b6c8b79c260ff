"""A typed model of a libvirt bhyve domain: renders XML and parses it back.

One module per element family (boot, resources, disk, interface, chardev,
display, passthrough, metadata), each class with ``format_dom`` and
``parse_dom`` side by side.  ``check.check_bhyve`` says whether libvirt's
bhyve driver can express a model before anything is written.
"""

from bsdnet.driver.domain.address import DriveAddress, PciAddress
from bsdnet.driver.domain.boot import DomainOS, Loader, Nvram, grub_device_map
from bsdnet.driver.domain.chardev import CharDevice
from bsdnet.driver.domain.disk import Disk
from bsdnet.driver.domain.display import Controller, Graphics, Input, Video
from bsdnet.driver.domain.domain import Domain
from bsdnet.driver.domain.errors import DomainConfigError, UnsupportedConfig
from bsdnet.driver.domain.features import Clock, Features
from bsdnet.driver.domain.interface import Interface
from bsdnet.driver.domain.metadata import NovaMetadata, NovaPort
from bsdnet.driver.domain.passthrough import Audio, Commandline, Filesystem, Hostdev, Rng, Sound
from bsdnet.driver.domain.resources import CpuTopology, CpuTune, VcpuPin

__all__ = [
    "Audio", "CharDevice", "Clock", "Commandline", "Controller", "CpuTopology", "CpuTune",
    "Disk", "Domain", "DomainConfigError", "DomainOS", "DriveAddress", "Features", "Filesystem",
    "Graphics", "Hostdev", "Input", "Interface", "Loader", "NovaMetadata", "NovaPort", "Nvram",
    "PciAddress", "Rng", "Sound", "UnsupportedConfig", "VcpuPin", "Video", "grub_device_map",
]

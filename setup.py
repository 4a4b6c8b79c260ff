"""Build steps pyproject.toml cannot express.

- bsdnet.shm._abi: the cffi module built from kmod/include/bsdnet_abi.h, the one
  header that defines the shared-memory layout, and from
  kmod/freebsd/bsdnet_ioctl.h, the kernel module's ioctls.
- bsdnet/_bin/bsdnet-datapath: the Linux userspace datapath (the C core,
  the daemon kmod/daemon shares with the netmap home, and the Linux home
  kmod/linux; `make -C kmod/linux` builds the same by hand), an
  executable shipped inside the package so that `pip install .` gives a
  working node.  Linux only: its home is AF_PACKET, epoll and signalfd;
  on FreeBSD the datapath is bsdnet.ko or bsdnet-netmap, which the
  net/bsdnet-kmod port builds, and nothing is linked here.
"""
import glob
import os
import runpy
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
_CF = runpy.run_path(os.path.join(HERE, "kmod", "cflags.py"))["CFLAGS"]
CFLAGS = _CF["CSTD"] + _CF["COPT"] + _CF["CWARN"] + ["-D_GNU_SOURCE"]
DATAPATH_LTO = _CF["CLTO"]


# What bsdnet-datapath is built from, as kmod/linux/Makefile builds it.
DATAPATH_DIRS = ("kmod/core", "kmod/daemon", "kmod/linux")


def datapath_sources(platform: str) -> list:
    """The Linux daemon's sources, on Linux; nothing elsewhere."""
    if not platform.startswith("linux"):
        return []
    sources = sorted(s for d in DATAPATH_DIRS
                     for s in glob.glob(os.path.join(HERE, d, "*.c")))
    if not any("/kmod/linux/" in s for s in sources):
        return []
    return sources


class BuildWithDatapath(build_ext):
    """build_ext that also links the datapath daemon executable."""

    def run(self):
        super().run()
        self._link_datapath()

    def _target(self, *parts):
        base = HERE if self.inplace else self.build_lib
        return os.path.join(base, *parts)

    def _link_datapath(self):
        sources = datapath_sources(sys.platform)
        if not sources:
            return
        outdir = self._target("bsdnet", "_bin")
        os.makedirs(outdir, exist_ok=True)
        objs = self.compiler.compile(
            [os.path.relpath(s, HERE) for s in sources],
            output_dir=os.path.join(self.build_temp, "datapath"),
            include_dirs=["kmod/include", *DATAPATH_DIRS],
            extra_postargs=CFLAGS + DATAPATH_LTO)
        self.compiler.link_executable(objs, "bsdnet-datapath",
                                      output_dir=outdir,
                                      extra_postargs=DATAPATH_LTO +
                                      _CF["COPT"])


if __name__ == "__main__":     # as setuptools and pip run it
    setup(
        cffi_modules=["bsdnet/shm/abi_build.py:ffibuilder"],
        cmdclass={"build_ext": BuildWithDatapath},
    )

# The C flags of every userspace build of bsdnet's C: the daemons'
# Makefiles include this file; setup.py, the cffi module, the tests and
# the benchmarks read it through cflags.py.  (bsdnet.ko takes kern.mk's.)
# Only "NAME= words" lines: BSD make, GNU make and cflags.py read them alike.

BSDNET_CSTD=	-std=c11
BSDNET_CWARN=	-Wall -Wextra -Werror
# The daemons and the benchmarks.
BSDNET_COPT=	-O2 -g
# The daemons' link: the core's small steps inline across its files
# (bench_core: about 5 ns of 80 per packet).
BSDNET_CLTO=	-flto=auto
# Test builds under the sanitizers (unit tests, fuzzers, kernel harness).
BSDNET_CDEBUG=	-g -O1 -fno-omit-frame-pointer
BSDNET_CSAN=	-fsanitize=address,undefined -fno-sanitize-recover=all

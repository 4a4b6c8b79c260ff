"""Build the core's libFuzzer harnesses (shared by the test and run-long.sh).

Usage as a script: fuzz_build.py OUTDIR  -> prints the built binaries.
"""
import logging
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
TESTS_CORE = ROOT / "tests" / "core"
HARNESSES = ("packet", "tables")
_CF = runpy.run_path(str(ROOT / "kmod" / "cflags.py"))["CFLAGS"]
# The sanitizers of CSAN, with libFuzzer's driver.
FLAGS = _CF["CSTD"] + _CF["CDEBUG"] + _CF["CWARN"] + [
    "-DTH_NO_MAIN", "-fsanitize=fuzzer"] + _CF["CSAN"]


class FuzzUnavailable(RuntimeError):
    """clang or its libFuzzer runtime is missing."""


def find_clang() -> str:
    for name in ("clang", "clang-16", "clang-15", "clang-14"):
        path = shutil.which(name)
        if path:
            return path
    raise FuzzUnavailable("clang is not installed")


def check_libfuzzer(clang: str, workdir: Path) -> None:
    """Link a trivial harness: fails without libFuzzer's runtime."""
    src = workdir / "probe.c"
    src.write_text("#include <stddef.h>\n#include <stdint.h>\n"
                   "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
                   "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)"
                   "{ (void)d; (void)n; return 0; }\n")
    res = subprocess.run([clang, "-fsanitize=fuzzer", str(src), "-o",
                          str(workdir / "probe")], capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        raise FuzzUnavailable(f"clang has no libFuzzer: {res.stderr[:300]}")


def build(name: str, outdir: Path) -> Path:
    """Compile harness `name` with the core and the test home."""
    clang = find_clang()
    outdir.mkdir(parents=True, exist_ok=True)
    check_libfuzzer(clang, outdir)
    out = outdir / f"fuzz_{name}"
    argv = [clang, *FLAGS, "-I", str(INCLUDE), "-I", str(CORE),
            "-I", str(TESTS_CORE), "-o", str(out),
            str(HERE / f"fuzz_{name}.c"), str(TESTS_CORE / "th_home.c"),
            str(TESTS_CORE / "th_frames.c"), str(TESTS_CORE / "th_tables.c"),
            *sorted(str(p) for p in CORE.glob("*.c"))]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"building fuzz_{name} failed:\n{res.stderr}")
    return out


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO)
    outdir = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "fuzz"
    for name in HARNESSES:
        print(build(name, outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) to run bsdnet on Linux:
# system packages, then a virtualenv in .venv with bsdnet installed
# editable with its test extras.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    build-essential pkg-config python3-dev python3-venv
    clang libclang-rt-14-dev llvm        # fuzzers, ASan/UBSan
    iproute2 iputils-ping procps kmod ethtool  # namespaces, veth, tap
    tshark tcpdump                        # decoding what crosses the fabric
    libvirt-dev libvirt-clients libxml2-utils  # libvirt-python, virt-xml-validate
    qemu-utils xorriso                    # image conversion, config drive ISO
    fdisk                                 # sfdisk: real partition tables for the grub-bhyve tests
    dnsmasq-base isc-dhcp-client udhcpc   # DHCP servers and stock clients
    file curl
    mariadb-server rabbitmq-server        # a real Neutron for tests (scripts/neutron-dev.sh)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip setuptools wheel cffi
.venv/bin/pip install -q -c scripts/constraints.txt -e '.[test,nova,osvif,neutron]'
echo "setup-linux: ready (.venv/bin has the bsdnet commands)"

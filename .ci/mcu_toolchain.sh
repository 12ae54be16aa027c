#!/usr/bin/env bash
# Install (if needed) the Cortex-M4F cross toolchain and QEMU for the microcontroller check
# (sb3_spiking/export/mcu.py, benchmarks/mcu_check.py, the mcu tests in tests/test_export.py, which
# skip with a reason when these tools are missing). Idempotent; run as root on Debian/Ubuntu.
#
#   bash .ci/mcu_toolchain.sh
set -euo pipefail
PACKAGES="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
if command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1 \
    && [ -e /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/librdimon.a ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "mcu_toolchain.sh: run as root (apt-get install $PACKAGES)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $PACKAGES >/dev/null
arm-none-eabi-gcc --version | head -1
qemu-system-arm --version | head -1

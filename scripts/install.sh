#!/usr/bin/env bash
# Install sb3_spiking with all extras into ./.venv (created if missing).
# torch goes in first, pinned to the CPU build: a bare `torch` requirement in a fresh venv would pull
# a multi-GB CUDA build. Set SB3_SPIKING_TORCH to choose another torch requirement (e.g. a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SB3_SPIKING_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
"$VENV/bin/pip" install -q "${SB3_SPIKING_TORCH:-torch==2.13.0}"
# keep exactly that torch: norse (extra nir) requires torchvision, whose newest release would otherwise make pip
# replace the CPU torch with a newer (CUDA) build; pinned, pip picks the torchvision made for this torch
TORCH_PIN=$("$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)")
"$VENV/bin/pip" install -q -e ".[all]" "$TORCH_PIN"
"$VENV/bin/python" -c "import sb3_spiking, torch; print('sb3_spiking', sb3_spiking.__version__, 'torch', torch.__version__)"

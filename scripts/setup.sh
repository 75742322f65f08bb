#!/usr/bin/env bash
# Create .venv in the project folder and install cropland (with test tools) into it.
# torch is installed first as the CPU build unless the venv already has one; on a GPU machine,
# install the torch build for your CUDA into .venv before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # An unpinned torch from PyPI is the multi-GB CUDA build; 2.13.0 resolves to the CPU wheel.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[dev,export,baseline,sweeps,mlflow,maps,docs]"
echo "cropland is installed in $(pwd)/.venv"

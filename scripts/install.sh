#!/usr/bin/env bash
# Installs CiteBot into ./.venv with the CPU build of torch.
#   scripts/install.sh          the bot
#   scripts/install.sh --test   the bot and the test tools
# torch goes in first and as the CPU build: PyPI's default Linux torch is a multi-GB CUDA build
# that CiteBot does not need. TORCH_VERSION and TORCH_INDEX_URL override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip

if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if '+cpu' in torch.__version__ or not torch.version.cuda else 1)" 2>/dev/null; then
  echo "Installing torch ${TORCH_VERSION} (CPU build)..." >&2
  # A local wheel or mirror may already carry the CPU build; otherwise PyTorch's CPU index does.
  pip install --quiet "torch==${TORCH_VERSION}+cpu" 2>/dev/null \
    || pip install --quiet "torch==${TORCH_VERSION}+cpu" --extra-index-url "${TORCH_INDEX_URL}"
fi

echo "Installing CiteBot${extras}..." >&2
pip install --quiet -e ".${extras}"

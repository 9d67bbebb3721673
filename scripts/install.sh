#!/usr/bin/env bash
# Installs CiteBot into ./.venv.
#   scripts/install.sh            the bot: Slack, Discord, console, digest, SQLite and PostgreSQL,
#                                 FAISS; its models run on onnxruntime, so no torch
#   scripts/install.sh --test     the bot and everything the tests use (the train and milvus
#                                 extras, the test tools)
#   scripts/install.sh --train    also torch (CPU) and sentence-transformers: CITEBOT_ENCODER=torch
#                                 or onnx, training the reader, remaking the shipped ONNX files
#   scripts/install.sh --milvus   also pymilvus and Milvus Lite (CITEBOT_VECTOR_STORE=milvus://…)
# Flags combine. Whenever torch is to be installed it goes in first and as the CPU build: PyPI's
# default Linux torch is a multi-GB CUDA build that CiteBot does not need. TORCH_VERSION and
# TORCH_INDEX_URL override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
extras=()
for arg in "$@"; do
  case "$arg" in
    --test|--train|--milvus) extras+=("${arg#--}") ;;
    *) echo "usage: scripts/install.sh [--test] [--train] [--milvus]" >&2; exit 2 ;;
  esac
done

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip

case " ${extras[*]-} " in
  *" test "*|*" train "*)
    if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if '+cpu' in torch.__version__ or not torch.version.cuda else 1)" 2>/dev/null; then
      echo "Installing torch ${TORCH_VERSION} (CPU build)..." >&2
      # A local wheel or mirror may already carry the CPU build; otherwise PyTorch's CPU index does.
      pip install --quiet "torch==${TORCH_VERSION}+cpu" 2>/dev/null \
        || pip install --quiet "torch==${TORCH_VERSION}+cpu" --extra-index-url "${TORCH_INDEX_URL}"
    fi ;;
esac

spec="."
[ ${#extras[@]} -gt 0 ] && spec=".[$(IFS=,; echo "${extras[*]}")]"
echo "Installing CiteBot${spec#.}..." >&2
pip install --quiet -e "${spec}"

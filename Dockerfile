# CiteBot: CPU-only torch, the model (a pip package) and the bundled index baked in.
#
#   docker build -t citebot .                     # torch from PyTorch's CPU index
#   docker run -e SLACK_BOT_TOKEN=... -v citebot-data:/var/lib/citebot -p 8080:8080 citebot
#
# Build arguments:
#   BASE_IMAGE       a Debian bookworm image with python3 (3.11) and venv
#   TORCH_VERSION    the torch release; installed as its +cpu build
#   TORCH_INDEX_URL  where the CPU build comes from
#   TORCH_WHEELS     a folder in the build context holding the torch CPU wheel, to install from
#                    instead of the network (empty: use TORCH_INDEX_URL)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_WHEELS=

# The model ships inside a pip package: HF_HUB_OFFLINE keeps the hub out of it at run time.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/citebot/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CITEBOT_HOME=/var/lib/citebot \
    CITEBOT_CORPUS=/opt/citebot/corpus \
    CITEBOT_LOG_FORMAT=json \
    CITEBOT_PORT=8080

RUN python3 -m venv /opt/citebot/venv

# torch first, as the CPU build: PyPI's default Linux torch is a multi-GB CUDA build. The bind
# mount reads a wheel from the context without copying it into a layer.
RUN --mount=type=bind,target=/context \
    set -eu; \
    wheel=""; \
    if [ -n "${TORCH_WHEELS}" ]; then \
        wheel=$(ls /context/${TORCH_WHEELS}/torch-${TORCH_VERSION}+cpu-*.whl 2>/dev/null | head -n 1); \
    fi; \
    if [ -n "$wheel" ]; then \
        pip install "$wheel"; \
    else \
        pip install "torch==${TORCH_VERSION}+cpu" --extra-index-url "${TORCH_INDEX_URL}"; \
    fi

# Dependencies before the code, so a code change rebuilds only the last layers.
WORKDIR /opt/citebot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY index ./index
COPY prompts ./prompts
COPY bench ./bench
COPY corpus ./corpus
RUN pip install . \
    && python -c "import torch, sys; sys.exit(0 if not torch.version.cuda else 'a CUDA torch slipped in')"

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/citebot --no-create-home citebot \
    && mkdir -p /var/lib/citebot && chown citebot:citebot /var/lib/citebot
USER citebot

# The index is built here with the real model, so the first question is answered at once.
RUN citebot index rebuild

# The index and the SQLite state (unless CITEBOT_DATABASE_URL points elsewhere). Declared after
# the rebuild: a new volume starts as a copy of the baked index.
VOLUME ["/var/lib/citebot"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CITEBOT_PORT', '8080'), timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["citebot"]
CMD ["serve"]

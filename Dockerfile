# CiteBot: the bot, its ONNX models (encoder and reader, shipped in index/) and the bundled index
# baked in; no torch, no Milvus (both are extras the image does not need).
#
#   docker build -t citebot .
#   docker run -e SLACK_BOT_TOKEN=... -v citebot-data:/var/lib/citebot -p 8080:8080 citebot
#
# Build arguments:
#   BASE_IMAGE       a Debian bookworm image with python3 (3.11) and venv
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- build: the venv, from the sources, which stay behind -----------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/citebot/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY index ./index
COPY prompts ./prompts
COPY bench ./bench
RUN /opt/citebot/venv/bin/pip install . \
    && /opt/citebot/venv/bin/python -c "import importlib.util as u, sys; found = [m for m in ('torch', 'transformers', 'sentence_transformers', 'pymilvus') if u.find_spec(m)]; sys.exit(f'not for this image: {found}' if found else 0)"

# --- runtime: the venv (the code and its ONNX models are in it), the corpus and the index ---------
FROM ${BASE_IMAGE}

# Nothing is downloaded at run time: the models are files in the package.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/citebot/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    CITEBOT_HOME=/var/lib/citebot \
    CITEBOT_CORPUS=/opt/citebot/corpus \
    CITEBOT_LOG_FORMAT=json \
    CITEBOT_PORT=8080

COPY --from=build /opt/citebot/venv /opt/citebot/venv
COPY corpus /opt/citebot/corpus
WORKDIR /opt/citebot

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/citebot --no-create-home citebot \
    && mkdir -p /var/lib/citebot && chown citebot:citebot /var/lib/citebot
USER citebot

# The index is built here with the shipped model, so the first question is answered at once.
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

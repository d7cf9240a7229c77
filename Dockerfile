# mamfast worker image: slim Python, MediaInfo, pinned dependencies, non-root at run time.
# BASE_IMAGE: any Debian bookworm image with python3 (3.11+) and its venv module; the
# default is the official Python image. Override it to build from a mirror or a local image:
#   docker compose build --build-arg BASE_IMAGE=registry.example/python:3.11-slim-bookworm
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# mamfast lives in its own virtual environment, so the image does not depend on where the
# base image keeps its Python or its pip.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAMFAST_DATA_DIR=/config \
    VIRTUAL_ENV=/opt/mamfast \
    PATH=/opt/mamfast/bin:$PATH

# mediainfo for the metadata stage, tini as PID 1 (forwards SIGTERM, reaps children),
# tzdata so TZ works.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mediainfo tini tzdata \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN python3 -m venv /opt/mamfast \
 && pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY mamfast ./mamfast
COPY workers ./workers
RUN pip install --no-deps . \
 && useradd --system --uid 1000 --user-group --home-dir /config mamfast \
 && mkdir -p /config /data && chown mamfast:mamfast /config
COPY docker/entrypoint.sh /usr/local/bin/mamfast-entrypoint

VOLUME ["/config"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/mamfast-entrypoint"]
CMD ["mamfast", "worker", "--queue", "default"]

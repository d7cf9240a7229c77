# mamfast worker image: slim Python, MediaInfo, pinned dependencies, non-root at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAMFAST_DATA_DIR=/config

# mediainfo for the metadata stage, tini as PID 1 (forwards SIGTERM, reaps children),
# tzdata so TZ works.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mediainfo tini tzdata \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock
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

# One image for every service: the worker (default command), the one-shot
# publisher and any other `newsletter ...` command, e.g.
#   docker compose run --rm publisher newsletter status
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSLETTER_DATA_DIR=/app/var

# Celery refuses to be comfortable as root, and nothing here needs root.
RUN groupadd --system --gid 1000 newsletter \
 && useradd --system --uid 1000 --gid newsletter --home-dir /app --shell /usr/sbin/nologin newsletter

WORKDIR /app

COPY pyproject.toml README.md ./
COPY publisher/ publisher/
COPY workers/ workers/
COPY templates/ templates/
# Not installed by pip: the example recap and subscribers the commands in
# docker-compose.yml refer to by relative path (from WORKDIR /app).
COPY examples/ examples/

# var/outbox exists in the image, owned by the user, so a fresh named volume
# mounted there inherits that ownership and stays writable.
RUN pip install --no-cache-dir ".[ops]" \
 && rm -rf build ./*.egg-info \
 && mkdir -p var/outbox \
 && chown -R newsletter:newsletter var

USER newsletter

CMD ["newsletter", "worker"]

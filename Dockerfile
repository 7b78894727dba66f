# syntax=docker/dockerfile:1
# Slim image of the hotline service: `hotline serve`, non-root (uid 10001), config mounted from
# outside, healthy only while the AMI connection to Asterisk is up.
#   docker build -t hotline .
#   docker run -v /srv/hotline:/etc/hotline/site:ro -v hotline-data:/var/lib/hotline hotline
# Settings, later wins: the shipped defaults (/etc/hotline/defaults/hotline.toml) <- the image's
# paths (/etc/hotline/defaults/image.toml) <- the site file (/etc/hotline/site/hotline.toml) <-
# HOTLINE_<SECTION>_<KEY> variables.  The image sets no HOTLINE_<SECTION>_<KEY> itself, so a
# site file can move the store, the taxonomy, the calendar data and the health file.
# The data volume must be writable by uid 10001 (see README, "Container").
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY hotline ./hotline
# The package and every dependency as wheels, at the versions of requirements.lock.
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock .

FROM python:3.11-slim
# A CJK font, so the charts of `hotline report` (--html, --chart) are labelled in Chinese.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/hotline --create-home hotline
# The wheels are mounted for the one install step, never copied: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    python -m pip install --no-cache-dir --no-index --find-links /wheels \
        -c /tmp/requirements.lock hotline
# Shipped defaults (every key) and the image's paths; the site file is mounted at /etc/hotline/site.
COPY config /etc/hotline/defaults
ENV HOTLINE_DEFAULTS=/etc/hotline/defaults/hotline.toml \
    HOTLINE_IMAGE_CONFIG=/etc/hotline/defaults/image.toml \
    HOTLINE_SITE_CONFIG=/etc/hotline/site/hotline.toml \
    PYTHONUNBUFFERED=1
USER hotline
WORKDIR /var/lib/hotline
VOLUME ["/etc/hotline/site", "/var/lib/hotline"]
# `hotline health` reads the same site file as `serve` (HOTLINE_SITE_CONFIG): the site's
# [health] interval_s and file are the ones the service keeps.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["hotline", "health"]
ENTRYPOINT ["hotline"]
CMD ["serve"]

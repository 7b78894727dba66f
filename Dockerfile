# Slim image of the hotline service: `hotline serve`, non-root, config mounted from outside,
# healthy only while the AMI connection to Asterisk is up.
#   docker build -t hotline .
#   docker run -v /srv/hotline:/etc/hotline/site:ro -v hotline-data:/var/lib/hotline hotline
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hotline ./hotline
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# A CJK font, so the charts of `hotline report` (--html, --chart) are labelled in Chinese.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/hotline --create-home hotline
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Shipped defaults (every key); the site file layered over them is mounted at /etc/hotline/site.
COPY config /etc/hotline/defaults
ENV HOTLINE_DEFAULTS=/etc/hotline/defaults/hotline.toml \
    HOTLINE_TICKETS_TAXONOMY_FILE=/etc/hotline/defaults/taxonomy.csv \
    HOTLINE_TICKETS_CALENDAR_DIR=/etc/hotline/defaults/calendar \
    HOTLINE_STORE_PATH=/var/lib/hotline/hotline.db \
    HOTLINE_HEALTH_FILE=/tmp/hotline.health \
    PYTHONUNBUFFERED=1
USER hotline
WORKDIR /var/lib/hotline
VOLUME ["/etc/hotline/site", "/var/lib/hotline"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["hotline", "health"]
ENTRYPOINT ["hotline"]
CMD ["--config", "/etc/hotline/site/hotline.toml", "serve"]

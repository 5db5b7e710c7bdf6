# One image for every process: `atende api`, `atende worker`, `atende operator`, `atende migrate`.
# Build stage: wheels for the project and its dependencies (compilers stay here).
FROM python:3.12.8-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
COPY operator ./operator
COPY migrations ./migrations
COPY k8s/crds ./k8s/crds
RUN pip wheel --wheel-dir /wheels .

# Runtime stage: the wheels installed into a venv, no build tools, a non-root user.
FROM python:3.12.8-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/atende/bin:$PATH \
    ATENDE_DATA_DIR=/var/lib/atende ATENDE_ENVIRONMENT=production
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/atende \
    && /opt/atende/bin/pip install --no-cache-dir --no-index --find-links=/wheels atende \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin atende \
    && mkdir -p /var/lib/atende && chown atende:atende /var/lib/atende
USER 10001:10001
WORKDIR /var/lib/atende
EXPOSE 8000 9100
ENTRYPOINT ["atende"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

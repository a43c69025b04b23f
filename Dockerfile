# alliance-risk prediction service.
# Build:  docker build -t alliance-risk .
# Run:    docker run -p 8000:8000 -v "$PWD/var:/data" alliance-risk
#         (serves models:/alliance-risk@champion from the MLflow store in /data, or set
#          MLFLOW_TRACKING_URI / ALLIANCE_RISK_MODEL_URI to use a tracking server)
# The install steps mirror the Makefile: a venv, pip, constraints.txt, the project itself.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md alliance_risk_cli.py ./
COPY data_schemas ./data_schemas
COPY features ./features
COPY models ./models
COPY service ./service
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim AS runtime
# libgomp1: LightGBM's OpenMP; Pango and a font: WeasyPrint's PDF reports.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 alliance
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALLIANCE_RISK_HOME=/data
USER alliance
WORKDIR /home/alliance
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# Through `alliance-risk serve`: JSON logs, and a refusal to listen beyond loopback with auth off.
CMD ["alliance-risk", "serve", "--host", "0.0.0.0", "--port", "8000"]

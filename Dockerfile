# One image for every paysaga process of docker-compose.yml: the API, the worker, the
# sandbox gateway and the one-shot jobs (`db upgrade`, `search-attributes`). The entrypoint
# is the `paysaga` CLI, so a service's command is its subcommand:
#   docker run paysaga:local api --host 0.0.0.0 --port 8000
#   docker run paysaga:local worker
#   docker run paysaga:local db upgrade
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the project and its runtime dependencies (never the test extra) in a venv.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/paysaga
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY api ./api
RUN /opt/paysaga/bin/pip install .
# The worker's risk model, trained at build time as `paysaga risk train` does:
# the synthetic data and the seed are fixed, so every build scores payments the same way.
# Retrain on real outcomes with `paysaga risk train --labels --out DIR` and point
# PAYSAGA_RISK_MODEL_DIR at a volume holding DIR.
RUN /opt/paysaga/bin/paysaga risk train --seed 7 --samples 50000 --out /opt/paysaga/risk-model

# --- runtime: the venv only; no compiler, no sources beyond the installed package.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/paysaga/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PAYSAGA_DATA_DIR=/data \
    PAYSAGA_RISK_MODEL_DIR=/opt/paysaga/risk-model
COPY --from=build /opt/paysaga /opt/paysaga
# A fixed non-root uid, so volume ownership is the same on every host; /data is where the
# sandbox gateway keeps its SQLite file (a named volume takes this ownership).
RUN useradd --system --create-home --uid 10001 paysaga \
    && mkdir /data \
    && chown paysaga /data
USER 10001
# Settings also read ./.env: an empty working directory keeps a stray one out.
WORKDIR /home/paysaga

# API, sandbox gateway, worker metrics.
EXPOSE 8000 8100 9464
ENTRYPOINT ["paysaga"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

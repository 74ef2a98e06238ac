# One image for the api, worker and sandbox gateway services of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY api ./api
# psycopg: the compose file keeps payments and the ledger in PostgreSQL.
RUN pip install . "psycopg[binary]>=3.2"

RUN useradd --create-home --uid 10001 paysaga && mkdir /data && chown paysaga /data
USER paysaga
ENV PAYSAGA_DATA_DIR=/data

EXPOSE 8000 8100
CMD ["paysaga", "api", "--host", "0.0.0.0", "--port", "8000"]

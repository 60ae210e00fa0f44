# syntax=docker/dockerfile:1
#
# One image for all four services; each Kubernetes Deployment sets its command,
# `python -m services.<intake|matching|review|notify>` (see deploy/k8s/base).
#
#   docker build -t secondlook:dev .

# --- build: a virtualenv with the runtime dependencies and the project ---------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, read from pyproject.toml, so this layer is reused until the
# pins change. Only [project].dependencies: not the [dev] or [embedded] extras.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Then the project itself (a regular, non-editable install into the venv). Only
# the packages are copied, never .venv, tests or local state.
COPY secondlook ./secondlook
COPY services ./services
RUN pip install --no-deps .

# --- runtime -------------------------------------------------------------------
FROM python:3.11-slim

# Bytecode is compiled at install time; the root filesystem is read-only in the
# cluster, so Python must not try to write __pycache__ at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A numeric, non-root user, so the kubelet can check runAsNonRoot.
RUN groupadd --system --gid 10001 secondlook \
 && useradd --system --uid 10001 --gid secondlook --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin secondlook

COPY --from=build /opt/venv /opt/venv
# The synthetic (PHI-free) specialist directory. matching loads it only when
# SECONDLOOK_MATCHING_DIRECTORY_SEED points at it, as the dev overlay does.
COPY data/specialists.json /opt/secondlook/data/specialists.json

# /tmp is the only writable path in the cluster (an emptyDir).
WORKDIR /tmp
USER 10001:10001

EXPOSE 50051 9464 8080

# Deliberately no service: the Deployment's `command` picks one.
CMD ["python", "-c", "print('secondlook image: run python -m services.<intake|matching|review|notify>')"]

# syntax=docker/dockerfile:1
# The daily task's image (stack config smtp-egress:noticeImage): the smtp-egress wheel built from this checkout,
# installed in a virtual environment, plus the Pulumi CLI and its AWS provider for `egress deploy`.
# Build and push: README, "Operations", "Building the task image and the worker AMI". Linted by hadolint in the
# test suite (tests/test_image.py); what the wheel carries and runs is proved by tests/test_packaging.py.
#
# The base is pinned by digest: refresh both together with `docker buildx imagetools inspect python:3.11-slim-bookworm`.
# Python 3.11 is the version the wheel is tested with (requires-python >= 3.11).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# 1. The wheel, from the source folders only (.dockerignore keeps everything else out of the context).
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY egress/ egress/
COPY checks/ checks/
COPY components/ components/
COPY jobs/ jobs/
COPY scripts/ scripts/
COPY stacks/ stacks/
COPY synth/ synth/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# 2. The virtual environment the task runs: the wheel and its dependencies at the versions CI tests (constraints.txt).
FROM ${PYTHON_IMAGE} AS venv
COPY constraints.txt /tmp/constraints.txt
COPY --from=wheel /dist/ /dist/
RUN python -m venv /opt/smtp-egress \
    && /opt/smtp-egress/bin/pip install --no-cache-dir --constraint /tmp/constraints.txt /dist/smtp_egress-*.whl \
    && /opt/smtp-egress/bin/egress --help >/dev/null

# 3. The Pulumi CLI and the AWS provider plugin, pinned: the versions match pulumi and pulumi_aws in constraints.txt
# (tests/test_image.py checks that). Each archive is checked against its SHA-256 from the release's checksums file
# (pulumi-VERSION-checksums.txt for the CLI; the checksums file of the pulumi-aws release for the provider),
# given at build time: no checksum was fetched when this file was written (no network to those hosts).
FROM ${PYTHON_IMAGE} AS pulumi
ARG PULUMI_VERSION=3.272.0
ARG PULUMI_SHA256
ARG PULUMI_AWS_VERSION=7.51.1
ARG PULUMI_AWS_SHA256
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /tmp/download
RUN test -n "${PULUMI_SHA256}" -a -n "${PULUMI_AWS_SHA256}" \
      || { echo "set --build-arg PULUMI_SHA256=... and PULUMI_AWS_SHA256=... (README, Operations)" >&2; exit 1; } \
    && python -c 'import sys, urllib.request as u; u.urlretrieve(sys.argv[1], "pulumi.tar.gz"); u.urlretrieve(sys.argv[2], "aws.tar.gz")' \
        "https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}/pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz" \
        "https://github.com/pulumi/pulumi-aws/releases/download/v${PULUMI_AWS_VERSION}/pulumi-resource-aws-v${PULUMI_AWS_VERSION}-linux-amd64.tar.gz"
RUN printf '%s  pulumi.tar.gz\n%s  aws.tar.gz\n' "${PULUMI_SHA256}" "${PULUMI_AWS_SHA256}" | sha256sum --check --strict \
    && mkdir -p /opt/pulumi/bin \
    && tar -xzf pulumi.tar.gz --strip-components=1 -C /opt/pulumi/bin \
    && tar -xzf aws.tar.gz -C /opt/pulumi/bin pulumi-resource-aws \
    && /opt/pulumi/bin/pulumi version

# 4. The task image: no compilers, no pip cache, a non-root user. Its working folder is a Pulumi project whose
# program and stack config are the wheel's (stacks/ -> smtp_egress/stacks), so `egress deploy` finds Pulumi.yaml
# there and `egress notify` the plan (stacks/egress-ips.yaml). The AWS provider runs from PATH (an ambient
# plugin), so PULUMI_HOME can live on the task's scratch volume (/tmp) under a read-only root filesystem.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 egress \
    && useradd --system --uid 10001 --gid egress --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin egress
COPY --from=venv /opt/smtp-egress /opt/smtp-egress
COPY --from=pulumi /opt/pulumi /opt/pulumi
COPY Pulumi.yaml /srv/smtp-egress/Pulumi.yaml
RUN ln -s /opt/smtp-egress /srv/smtp-egress/.venv \
    && ln -s "$(/opt/smtp-egress/bin/python -c 'import smtp_egress.stacks as s, os; print(os.path.dirname(s.__file__))')" \
        /srv/smtp-egress/stacks \
    && test -f /srv/smtp-egress/stacks/__main__.py
ENV PATH=/opt/smtp-egress/bin:/opt/pulumi/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PULUMI_HOME=/tmp/.pulumi \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /srv/smtp-egress
USER 10001:10001
# The task definition gives the whole command (components/notice_schedule.py: ["egress", "daily", ...]).
CMD ["egress", "--help"]

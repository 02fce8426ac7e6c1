# The credit-score Lambda image: run-time dependencies, the run-time code and one verified model bundle.
#
# Plain Dockerfile syntax, no `# syntax=` line: any BuildKit builds it without fetching a frontend
# image (docker build 20.10+ with DOCKER_BUILDKIT=1, docker buildx build, podman/buildah build).
#
# Model from the registry. Credentials only as BuildKit secrets, never build args; each arrives as a
# file, /run/secrets/<id>, which the downloader reads. MODEL_FRESH makes the download step miss the
# cache, so the alias is resolved again:
#   DOCKER_BUILDKIT=1 docker build --build-arg MODEL_ALIAS=champion --build-arg MODEL_FRESH="$(date +%s)" \
#     --secret id=MLFLOW_TRACKING_URI,src=uri.txt \
#     --secret id=MLFLOW_TRACKING_USERNAME,src=username.txt \
#     --secret id=MLFLOW_TRACKING_PASSWORD,src=password.txt \
#     -t credit-score .
#   (--secret id=NAME,env=NAME takes the value from the builder's environment instead, still as a file;
#    docker buildx build: the same flags, plus --platform linux/amd64 --provenance=false;
#    DagsHub: --build-arg DAGSHUB_REPO=owner/name --secret id=DAGSHUB_USER_TOKEN,src=token.txt)
# Model already in model/ (after `make demo`):
#   DOCKER_BUILDKIT=1 docker build --build-arg MODEL_SOURCE=local -t credit-score .
# Only the bundle, to read its version before tagging the image (buildx):
#   docker buildx build --target model-export --output type=local,dest=model .
# A shadow challenger (runtime/challenger.py) from the registry's `challenger` alias, same secrets:
#   --build-arg CHALLENGER_SOURCE=registry [--build-arg CHALLENGER_ALIAS=challenger]
#   (or --target challenger-export --output type=local,dest=challenger, then CHALLENGER_SOURCE=local)

# Pinned to the Python 3.12 / Amazon Linux 2023 line; override with a digest (…@sha256:…) to freeze it.
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/python:3.12
# registry: download with model_downloader.py in the build; local: copy the model/ folder of the context.
ARG MODEL_SOURCE=registry
# none: no challenger; registry: download the challenger alias like the champion; local: copy challenger/.
ARG CHALLENGER_SOURCE=none

# Build-time tooling (mlflow, LightGBM, onnxmltools, shap): never part of the final image.
FROM ${LAMBDA_BASE_IMAGE} AS build-tools
WORKDIR /build
# LightGBM's wheel needs the system OpenMP library; the Amazon Linux 2023 base has dnf but no libgomp.
# hadolint ignore=DL3041
RUN if [ ! -e /usr/lib64/libgomp.so.1 ] && [ ! -e /usr/lib/x86_64-linux-gnu/libgomp.so.1 ] && [ ! -e /usr/lib/aarch64-linux-gnu/libgomp.so.1 ]; then \
        dnf install -y libgomp && dnf clean all; \
    fi
COPY requirements.txt requirements-build.txt ./
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check -r requirements-build.txt
COPY src/ src/
COPY model_downloader.py ./

FROM build-tools AS model-registry
# Read by model_downloader.py from the environment. MODEL_VERSION (a number or "latest") wins over MODEL_ALIAS.
ARG MODEL_NAME=credit-score-classifier
ARG MODEL_ALIAS=champion
ARG MODEL_VERSION=
ARG DAGSHUB_REPO=
ARG MODEL_FRESH=
# Each secret is optional: give the ones your registry needs (MLflow server, or DagsHub repo + token).
RUN --mount=type=secret,id=MLFLOW_TRACKING_URI \
    --mount=type=secret,id=MLFLOW_TRACKING_USERNAME \
    --mount=type=secret,id=MLFLOW_TRACKING_PASSWORD \
    --mount=type=secret,id=DAGSHUB_USER_TOKEN \
    if [ -n "${MODEL_VERSION}" ]; then unset MODEL_ALIAS; else unset MODEL_VERSION; fi \
    && echo "resolving the model (${MODEL_FRESH:-cached})" \
    && python3 -B model_downloader.py --output /opt/model

FROM scratch AS model-local
COPY model/ /opt/model/

# The bundle chosen by MODEL_SOURCE (a stage, not an image: nothing to tag).
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model

FROM scratch AS model-export
COPY --from=model /opt/model/ /

# The challenger bundle: downloaded and verified exactly as the champion (parity, known answers, hashes).
FROM build-tools AS challenger-registry
ARG MODEL_NAME=credit-score-classifier
ARG CHALLENGER_ALIAS=challenger
ARG DAGSHUB_REPO=
ARG MODEL_FRESH=
RUN --mount=type=secret,id=MLFLOW_TRACKING_URI \
    --mount=type=secret,id=MLFLOW_TRACKING_USERNAME \
    --mount=type=secret,id=MLFLOW_TRACKING_PASSWORD \
    --mount=type=secret,id=DAGSHUB_USER_TOKEN \
    echo "resolving the challenger (${MODEL_FRESH:-cached})" \
    && python3 -B model_downloader.py --alias "${CHALLENGER_ALIAS}" --output /opt/challenger

FROM scratch AS challenger-local
COPY challenger/ /opt/challenger/

# An empty folder: CHALLENGER_MODEL_DIR then holds no bundle and the function runs without one.
FROM ${LAMBDA_BASE_IMAGE} AS challenger-none
RUN mkdir -p /opt/challenger

# hadolint ignore=DL3006
FROM challenger-${CHALLENGER_SOURCE} AS challenger

FROM scratch AS challenger-export
COPY --from=challenger /opt/challenger/ /

FROM ${LAMBDA_BASE_IMAGE} AS runtime
WORKDIR ${LAMBDA_TASK_ROOT}
# Run-time requirements only (numpy, onnxruntime, boto3), beside the code in the task root, without
# what the handler never imports: console scripts, numpy's own test suite, pip's bytecode (compiled below).
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    python3 -m pip install --no-cache-dir --disable-pip-version-check --no-compile \
        --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt \
    && rm -rf "${LAMBDA_TASK_ROOT:?}/bin" \
    && find "${LAMBDA_TASK_ROOT}/numpy" -depth -type d -name tests -exec rm -rf {} + \
    && find "${LAMBDA_TASK_ROOT}" -depth -type d -name __pycache__ -exec rm -rf {} +
# What the handler imports, nothing of modelling/, monitoring/ or devtools/.
COPY src/app.py ./
COPY src/credit_score/__init__.py credit_score/
COPY src/credit_score/contract/ credit_score/contract/
COPY src/credit_score/runtime/ credit_score/runtime/
# The seed's request: the pre-traffic hook (same image, other command) sends it to each new version.
COPY data.json ./
COPY --from=model /opt/model/ model/
COPY --from=challenger /opt/challenger/ challenger/
# Bytecode compiled here, once: /var/task is read-only in Lambda, so without it every cold start
# compiles numpy, onnxruntime and our modules from source (`python -m benchmarks.compare`, "no
# bytecode" row: the cold start 2.7x longer on a 2-core VM) for about 16 MB of .pyc.
# unchecked-hash: the .pyc is used without comparing source timestamps, which image layers need not keep.
# Then refuse to produce an image around a bundle (or a challenger bundle, when there is one) that fails
# verification or a handler that does not import; the handler checks the bundle again at start.
# -B: nothing more written into the image.
RUN python3 -m compileall -q --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}" \
    && python3 -B -c "import app, credit_score.runtime.pretraffic; from credit_score.contract.bundle import load_bundle; b = load_bundle('model'); print('bundle', b.name, b.version)" \
    && if [ -e challenger/metadata.json ]; then python3 -B -c "from credit_score.contract.bundle import load_bundle; b = load_bundle('challenger'); print('challenger', b.name, b.version)"; fi
ENV MODEL_DIR=${LAMBDA_TASK_ROOT}/model
ENV CHALLENGER_MODEL_DIR=${LAMBDA_TASK_ROOT}/challenger
# One OpenBLAS thread: a 1 GB function has less than one vCPU ("at 1,769 MB, a function has the
# equivalent of one vCPU", https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so
# the thread pool numpy's OpenBLAS starts at import buys nothing; without it the cold start is longer
# (`python -m benchmarks.compare`, "OpenBLAS threads not set" row).
ENV OPENBLAS_NUM_THREADS=1
CMD ["app.handler"]

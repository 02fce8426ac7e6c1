# syntax=docker/dockerfile:1.10
# The credit-score Lambda image: run-time dependencies, src/ and one verified model bundle.
#
# Model from the registry (credentials only as BuildKit secrets, never build args; the download
# step is never taken from the cache, so the alias is resolved again on every build):
#   docker buildx build --platform linux/amd64 --build-arg MODEL_ALIAS=champion --no-cache-filter model-registry \
#     --secret id=MLFLOW_TRACKING_URI,env=MLFLOW_TRACKING_URI \
#     --secret id=MLFLOW_TRACKING_USERNAME,env=MLFLOW_TRACKING_USERNAME \
#     --secret id=MLFLOW_TRACKING_PASSWORD,env=MLFLOW_TRACKING_PASSWORD \
#     --provenance=false -t credit-score .
#   (DagsHub: --build-arg DAGSHUB_REPO=owner/name --secret id=DAGSHUB_USER_TOKEN,env=DAGSHUB_USER_TOKEN)
# Model already in model/ (after `make demo`):
#   docker buildx build --platform linux/amd64 --build-arg MODEL_SOURCE=local --provenance=false -t credit-score .
# Only the bundle, to read its version before tagging the image:
#   docker buildx build --target model-export --output type=local,dest=model .

# Pinned to the Python 3.12 / Amazon Linux 2023 line; override with a digest (…@sha256:…) to freeze it.
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/python:3.12
# registry: download with model_downloader.py in the build; local: copy the model/ folder of the context.
ARG MODEL_SOURCE=registry

# Build-time tooling (mlflow, scikit-learn, skl2onnx): never part of the final image.
FROM ${LAMBDA_BASE_IMAGE} AS build-tools
WORKDIR /build
COPY requirements.txt requirements-build.txt ./
RUN python -m pip install --no-cache-dir --disable-pip-version-check -r requirements-build.txt
COPY src/ src/
COPY model_downloader.py ./
ENV PYTHONPATH=/build/src

FROM build-tools AS model-registry
# Read by model_downloader.py from the environment. MODEL_VERSION (a number or "latest") wins over MODEL_ALIAS.
ARG MODEL_NAME=credit-score-classifier
ARG MODEL_ALIAS=champion
ARG MODEL_VERSION=
ARG DAGSHUB_REPO=
# Each secret is optional: give the ones your registry needs (MLflow server, or DagsHub repo + token).
RUN --mount=type=secret,id=MLFLOW_TRACKING_URI,env=MLFLOW_TRACKING_URI \
    --mount=type=secret,id=MLFLOW_TRACKING_USERNAME,env=MLFLOW_TRACKING_USERNAME \
    --mount=type=secret,id=MLFLOW_TRACKING_PASSWORD,env=MLFLOW_TRACKING_PASSWORD \
    --mount=type=secret,id=DAGSHUB_USER_TOKEN,env=DAGSHUB_USER_TOKEN \
    if [ -n "${MODEL_VERSION}" ]; then unset MODEL_ALIAS; else unset MODEL_VERSION; fi \
    && python model_downloader.py --output /opt/model

FROM scratch AS model-local
COPY model/ /opt/model/

# The bundle chosen by MODEL_SOURCE (a stage, not an image: nothing to tag).
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model

FROM scratch AS model-export
COPY --from=model /opt/model/ /

FROM ${LAMBDA_BASE_IMAGE} AS runtime
WORKDIR ${LAMBDA_TASK_ROOT}
# Run-time requirements only (numpy, onnxruntime, boto3), beside the code in the task root.
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    python -m pip install --no-cache-dir --disable-pip-version-check \
        --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt
COPY src/ ${LAMBDA_TASK_ROOT}/
COPY --from=model /opt/model/ ${LAMBDA_TASK_ROOT}/model/
# Refuse to produce an image around a bundle that fails verification; the handler checks it again at start.
RUN python -c "from credit_score.contract.bundle import load_bundle; b = load_bundle('${LAMBDA_TASK_ROOT}/model'); print('bundle', b.name, b.version)"
ENV MODEL_DIR=${LAMBDA_TASK_ROOT}/model
CMD ["app.handler"]

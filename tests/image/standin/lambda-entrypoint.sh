#!/bin/sh
# The stand-in base's entrypoint: AWS's runtime interface client serves the handler given as CMD,
# with the task root first on the import path, as the AWS base image does.
set -eu
if [ "$#" -ne 1 ]; then
  echo "lambda-entrypoint.sh: expected one argument, the handler (for example app.handler)" >&2
  exit 142
fi
export _HANDLER="$1"
export PYTHONPATH="${LAMBDA_TASK_ROOT}:${LAMBDA_RUNTIME_DIR}"
cd "${LAMBDA_TASK_ROOT}"
exec python3 -m awslambdaric "${_HANDLER}"

#!/usr/bin/env bash
# Tests of the Helm chart helm/segmenter: lint and render it with helm-python-sdk (Helm's Go SDK
# bundled in the Python package: no helm binary, no cluster, no network), check the rendered
# objects, and run `segmenter config check` on the rendered configuration.
# Usage, from anywhere: tests/helm/run.sh [pytest arguments]
# SEGMENTER_BIN names the segmenter binary (default: debug/segmenter under CARGO_TARGET_DIR or
# target, built if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

packages=("helm-python-sdk>=0.2.2,<0.3" "pyyaml" "pytest")
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  packages+=("tomli")  # tomllib is in the standard library from Python 3.11
fi
if ! python3 -c 'import helm_python, yaml, pytest; import tomllib' >/dev/null 2>&1 \
   && ! python3 -c 'import helm_python, yaml, pytest, tomli' >/dev/null 2>&1; then
  echo "==> installing ${packages[*]}"
  python3 -m pip install --quiet "${packages[@]}" \
    || python3 -m pip install --quiet --break-system-packages "${packages[@]}"
fi

if [[ -z "${SEGMENTER_BIN:-}" ]]; then
  # Where cargo puts it, so that a CARGO_TARGET_DIR outside the checkout skips no test.
  SEGMENTER_BIN="${CARGO_TARGET_DIR:-target}/debug/segmenter"
  if [[ ! -x "$SEGMENTER_BIN" ]]; then
    echo "==> building $SEGMENTER_BIN (for the config check tests)"
    cargo build --quiet --bin segmenter
  fi
  export SEGMENTER_BIN
fi

echo "==> helm chart tests (helm-python-sdk $(python3 -c 'import helm_python; print(helm_python.__version__)'), Helm SDK $(python3 -c 'import helm_python; print(helm_python.helm_sdk_version())'))"
status=0
python3 -m pytest tests/helm -p no:cacheprovider -q -rs "$@" || status=$?
if [[ $status -eq 0 ]]; then
  echo "helm chart tests: passed"
else
  echo "helm chart tests: FAILED (pytest exit $status)" >&2
fi
exit "$status"

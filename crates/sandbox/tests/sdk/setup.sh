#!/usr/bin/env bash
# Creates a virtualenv at the path given as the first argument and installs the pinned
# official Genesys Cloud Python SDK into it, for the sandbox conformance test:
#
#   bash crates/sandbox/tests/sdk/setup.sh .venv-sdk
#   HERALD_SDK_PYTHON=.venv-sdk/bin/python cargo test -p herald-sandbox --test sdk_conformance
set -euo pipefail

SDK_VERSION="269.0.0"

if [ "$#" -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv="$1"
python="${PYTHON:-python3}"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "purecloudplatformclientv2==${SDK_VERSION}"
"$venv/bin/python" -c "import PureCloudPlatformClientV2 as sdk; print('installed purecloudplatformclientv2', '${SDK_VERSION}')"

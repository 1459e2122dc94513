#!/usr/bin/env bash
# Create .venv/ and install the project into it, once; later runs return at once.
# The CPU build of torch goes in first, so nothing pulls a multi-GB CUDA build.
# With --test it also installs what the tests need: pytest & co. and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# One stamp for the install, one for the test extras on top of it: `make run` after `make test`
# (or the other way round) reinstalls nothing.
hash="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
stamp=".venv/.installed-$hash"
test_stamp=".venv/.installed-test-$hash"
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt torch==2.13.0
    .venv/bin/python -m pip install --quiet -c constraints.txt -e .
    rm -f .venv/.installed-*
    touch "$stamp"
fi
if [ "$want_test" = 1 ] && [ ! -f "$test_stamp" ]; then
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
    touch "$test_stamp"
fi

# The ONNX form of the embedding model, made once from the packaged weights (about 10-30 s)
# and cached (see index/onnx_model.py); later runs only check its checksum.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from index.onnx_model import ensure_model; ensure_model('fp32')"

if [ "$want_test" = 1 ] && [ ! -x /usr/bin/chromium ]; then
    echo "Installing Debian's chromium for the browser tests..." >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

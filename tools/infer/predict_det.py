"""Detect text boxes in images and PDFs.

``python tools/infer/predict_det.py --image_dir DIR [--det_model_dir M]`` writes ``det_results.txt``
(``path<TAB>[{"points": [[x, y] x 4]}]``) and images with the boxes drawn to ``--draw_img_save_dir``.
"""
import utility


def main(argv=None) -> int:
    return utility.run_tool("det", argv, __doc__)


if __name__ == "__main__":
    utility.run_cli(main)

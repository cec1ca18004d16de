"""Recognise text-line crops: each image is one line of text.

``python tools/infer/predict_rec.py --image_dir CROPS [--rec_model_dir M]`` writes ``rec_results.txt``
(``path<TAB>text<TAB>score``) to ``--draw_img_save_dir``, recognising ``--rec_batch_num`` crops at a time.
"""
import utility


def main(argv=None) -> int:
    return utility.run_tool("rec", argv, __doc__)


if __name__ == "__main__":
    utility.run_cli(main)

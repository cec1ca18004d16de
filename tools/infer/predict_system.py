"""Read the text in images and PDFs: detection, optional direction classification, recognition.

``python tools/infer/predict_system.py --image_dir DIR [--use_angle_cls True] [--use_mp True --total_process_num 4]``
writes ``system_results.txt`` and visualised images to ``--draw_img_save_dir``; without model folders
the packaged PP-OCR models are used.
"""
import utility


def main(argv=None) -> int:
    return utility.run_tool("system", argv, __doc__)


if __name__ == "__main__":
    utility.run_cli(main)

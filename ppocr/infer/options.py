"""Every inference setting, under PaddleOCR's flag names, in one place.

The command-line tools derive their flags from this dataclass and the Python API takes the same
names as keyword arguments, so a flag that works on ``predict_system.py`` works on ``TextSystem``.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional


@dataclasses.dataclass
class InferOptions:
    # devices and backends
    use_gpu: bool = False
    gpu_id: int = 0
    gpu_mem: int = 500
    use_tensorrt: bool = False
    precision: str = "fp32"  # fp32 | fp16 | int8 (TensorRT)
    min_subgraph_size: int = 15
    trt_shape_dir: Optional[str] = None  # where collected TensorRT dynamic shapes are kept
    use_onnx: bool = False
    enable_mkldnn: bool = True
    cpu_threads: int = 10
    ocr_version: str = "PP-OCRv4"  # packaged default models: PP-OCRv4 | PP-OCRv6
    encryption_key: Optional[str] = None  # for models exported with Global.encryption_key ($PPOCR_ENCRYPTION_KEY)

    # detection
    det_model_dir: Optional[str] = None
    det_algorithm: str = "DB"
    det_limit_side_len: int = 1024  # chosen on training data (benchmarks/system_ic15.py); PaddleOCR: 960
    det_limit_type: str = "max"
    det_db_thresh: float = 0.3
    det_db_box_thresh: float = 0.6
    det_db_unclip_ratio: float = 1.5
    det_db_score_mode: str = "fast"
    use_dilation: bool = False
    det_box_type: str = "quad"

    # direction classification
    use_angle_cls: bool = False
    cls_model_dir: Optional[str] = None
    cls_image_shape: str = "3, 48, 192"
    cls_batch_num: int = 6
    cls_thresh: float = 0.9
    label_list: List[str] = dataclasses.field(default_factory=lambda: ["0", "180"])

    # recognition
    rec_model_dir: Optional[str] = None
    rec_algorithm: str = "SVTR_LCNet"
    rec_image_shape: str = "3, 48, 192"  # W is the narrowest batch; PaddleOCR: 320 (same accuracy, more padding)
    rec_batch_num: int = 1  # fastest on CPU for PP-OCRv4 rec (benchmarks/system_docs.py); PaddleOCR: 6
    rec_char_dict_path: Optional[str] = None
    use_space_char: bool = True
    max_text_length: int = 25
    drop_score: float = 0.5

    # inputs and outputs
    image_dir: Optional[str] = None
    page_num: int = 0  # PDF pages to read; 0 = all
    max_image_pixels: int = 50_000_000  # larger inputs are downscaled with a warning
    draw_img_save_dir: str = "./inference_results"
    save_results: bool = True
    vis_font_path: Optional[str] = None
    save_crop_res: bool = False
    crop_res_save_dir: str = "./output"
    show_log: bool = True
    warmup: bool = False
    benchmark: bool = False
    is_visualize: bool = True  # draw boxes and text to draw_img_save_dir (added for predict_system/predict_det)

    # scale-out
    use_mp: bool = False
    total_process_num: int = 1
    process_id: int = 0

    # int8 on CPU (precision="int8" without TensorRT): quantised det/rec copies made by tools/quant_onnx.py
    int8_model_dir: Optional[str] = None  # default ~/.cache/ppocr/int8

    @classmethod
    def field_names(cls) -> List[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> "InferOptions":
        unknown = [k for k in changes if k not in self.field_names()]
        if unknown:
            from ppocr.utils.registry import closest

            hints = [f"{k} (did you mean {closest(k, self.field_names())}?)" if closest(k, self.field_names())
                     else k for k in unknown]
            raise TypeError(f"unknown inference option(s): {', '.join(hints)}")
        return dataclasses.replace(self, **changes)

"""Every inference setting, under PaddleOCR's flag names, in one place.

The command-line tools derive their flags from this dataclass and the Python API takes the same
names as keyword arguments, so a flag that works on ``predict_system.py`` works on ``TextSystem``.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Iterable, List, Optional

# PaddleOCR flags for algorithms, devices and services ppocr does not have: accepted at PaddleOCR's default,
# refused in one line otherwise. Value: what the flag belongs to.
UNSUPPORTED_FLAGS: Dict[str, str] = {
    "use_xpu": "Kunlun XPU devices", "use_npu": "Ascend NPU devices", "use_mlu": "Cambricon MLU devices",
    "use_metax_gpu": "MetaX GPU devices", "use_gcu": "Enflame GCU devices",
    "det_east_score_thresh": "the EAST detector", "det_east_cover_thresh": "the EAST detector",
    "det_east_nms_thresh": "the EAST detector", "det_sast_score_thresh": "the SAST detector",
    "det_sast_nms_thresh": "the SAST detector", "det_pse_thresh": "the PSE detector",
    "det_pse_box_thresh": "the PSE detector", "det_pse_min_area": "the PSE detector",
    "det_pse_scale": "the PSE detector", "scales": "the FCE detector", "alpha": "the FCE detector",
    "beta": "the FCE detector", "fourier_degree": "the FCE detector",
    "e2e_algorithm": "end-to-end PGNet", "e2e_model_dir": "end-to-end PGNet",
    "e2e_limit_side_len": "end-to-end PGNet", "e2e_limit_type": "end-to-end PGNet",
    "e2e_pgnet_score_thresh": "end-to-end PGNet", "e2e_char_dict_path": "end-to-end PGNet",
    "e2e_pgnet_valid_set": "end-to-end PGNet", "e2e_pgnet_mode": "end-to-end PGNet",
    "sr_model_dir": "text super-resolution", "sr_image_shape": "text super-resolution",
    "sr_batch_num": "text super-resolution", "use_pdserving": "Paddle Serving (use deploy/ serving instead)",
}


@dataclasses.dataclass
class InferOptions:
    # devices and backends
    use_gpu: bool = False
    gpu_id: int = 0
    gpu_mem: int = 500
    use_tensorrt: bool = False
    precision: str = "fp32"  # fp32 | fp16 | int8 (TensorRT)
    min_subgraph_size: int = 15
    max_batch_size: int = 10  # TensorRT engine's largest batch
    trt_shape_dir: Optional[str] = None  # where collected TensorRT dynamic shapes are kept
    ir_optim: bool = True  # Paddle Inference graph optimisation passes
    use_onnx: bool = False
    onnx_providers: Optional[str] = None  # ONNX Runtime providers, comma-separated (default: CPU, or CUDA+CPU)
    onnx_sess_options: Optional[List[str]] = None  # ONNX Runtime SessionOptions as NAME=VALUE
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
    rec_image_inverse: bool = True  # PaddleOCR inverts only CAN formula crops; CTC recognisers read as given
    return_word_box: bool = False  # split each line into words with their own boxes (system results)
    # with return_word_box: also split words at gaps over 2 character pitches the model read without a space
    # (benchmarks/word_boxes.py: FUNSD train e2e Hmean 0.600 -> 0.636, ICDAR 2015 dev 0.530 -> 0.528)
    word_gap_spaces: bool = True

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
    benchmark: bool = False  # write the run's timings as JSON to save_log_path
    save_log_path: str = "./log_output/"  # a .json file, or a folder for <task>_benchmark.json
    is_visualize: bool = True  # draw boxes and text to draw_img_save_dir (added for predict_system/predict_det)

    # scale-out
    use_mp: bool = False
    total_process_num: int = 1
    process_id: int = 0
    ray: bool = False  # run on Ray (pip install ppocr[ray]): local, or the cluster at ray_address
    ray_address: Optional[str] = None  # "auto" = the cluster this machine joined with `ray start`
    num_actors: int = 0  # Ray predictor actors; 0 = one per CPU the cluster has

    # PaddleOCR flags of UNSUPPORTED_FLAGS, at PaddleOCR's defaults
    use_xpu: bool = False
    use_npu: bool = False
    use_mlu: bool = False
    use_metax_gpu: bool = False
    use_gcu: bool = False
    use_pdserving: bool = False
    det_east_score_thresh: float = 0.8
    det_east_cover_thresh: float = 0.1
    det_east_nms_thresh: float = 0.2
    det_sast_score_thresh: float = 0.5
    det_sast_nms_thresh: float = 0.2
    det_pse_thresh: float = 0.0
    det_pse_box_thresh: float = 0.85
    det_pse_min_area: float = 16
    det_pse_scale: int = 1
    scales: List[int] = dataclasses.field(default_factory=lambda: [8, 16, 32])
    alpha: float = 1.0
    beta: float = 1.0
    fourier_degree: int = 5
    e2e_algorithm: str = "PGNet"
    e2e_model_dir: Optional[str] = None
    e2e_limit_side_len: float = 768
    e2e_limit_type: str = "max"
    e2e_pgnet_score_thresh: float = 0.5
    e2e_char_dict_path: str = "./ppocr/utils/ic15_dict.txt"
    e2e_pgnet_valid_set: str = "totaltext"
    e2e_pgnet_mode: str = "fast"
    sr_model_dir: Optional[str] = None
    sr_image_shape: str = "3, 32, 128"
    sr_batch_num: int = 1

    # int8 on CPU (precision="int8" without TensorRT): quantised det/rec copies made by tools/quant_onnx.py
    int8_model_dir: Optional[str] = None  # default ~/.cache/ppocr/int8

    @classmethod
    def field_names(cls) -> List[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @property
    def given(self) -> FrozenSet[str]:
        """The options the caller set (keyword, flag or ``replace``), even to their default value: these win over
        what a model's ``inference.yml`` records."""
        return self.__dict__.get("_given", frozenset())

    def with_given(self, names: Iterable[str]) -> "InferOptions":
        """These options, with ``names`` (e.g. the flags on a command line) as the ones the caller set."""
        self.__dict__["_given"] = frozenset(names)
        return self

    def unsupported_settings(self) -> List[str]:
        """The UNSUPPORTED_FLAGS set to anything but PaddleOCR's default, as ``--flag value (what)``."""
        defaults = InferOptions()
        return [f"--{name} {getattr(self, name)!r} ({what})" for name, what in UNSUPPORTED_FLAGS.items()
                if getattr(self, name) != getattr(defaults, name)]

    def check_supported(self) -> None:
        """One-line ValueError naming the flags set for things ppocr does not have."""
        unsupported = self.unsupported_settings()
        if unsupported:
            raise ValueError(f"not available in ppocr: {'; '.join(unsupported)}; leave these flags at their "
                             "defaults")

    def replace(self, **changes) -> "InferOptions":
        unknown = [k for k in changes if k not in self.field_names()]
        if unknown:
            from ppocr.utils.registry import closest

            hints = [f"{k} (did you mean {closest(k, self.field_names())}?)" if closest(k, self.field_names())
                     else k for k in unknown]
            raise TypeError(f"unknown inference option(s): {', '.join(hints)}")
        return dataclasses.replace(self, **changes).with_given(self.given | set(changes))


_dataclass_init = InferOptions.__init__


def _init_noting_given(self: InferOptions, *args, **kwargs) -> None:
    _dataclass_init(self, *args, **kwargs)
    self.with_given(set(InferOptions.field_names()[:len(args)]) | set(kwargs))


InferOptions.__init__ = _init_noting_given

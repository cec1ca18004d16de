"""Quantization on paddle 3's own ``paddle.quantization``: PACT QAT, PTQ (abs_max/min_max/KL), int8 export."""
from ppocr.slim.quant.export import build_quantized_from_checkpoint, export_quantized, write_qdq_onnx
from ppocr.slim.quant.pact import PACT, insert_pact
from ppocr.slim.quant.ptq import calibrate, calibration_batches, prepare_for_calibration
from ppocr.slim.quant.qat import convert_for_inference, qat_hook, quantize_for_training
from ppocr.slim.quant.settings import QuantSettings
from ppocr.slim.quant.workflow import export_checkpoint, run_ptq, run_qat

__all__ = [
    "PACT", "QuantSettings", "build_quantized_from_checkpoint", "calibrate", "calibration_batches",
    "convert_for_inference", "export_checkpoint", "export_quantized", "insert_pact", "prepare_for_calibration",
    "qat_hook", "quantize_for_training", "run_ptq", "run_qat", "write_qdq_onnx",
]

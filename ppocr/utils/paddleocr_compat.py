"""What PaddleOCR's own configs contain beyond ppocr's schema, so they load unchanged.

Three kinds of PaddleOCR names live here:

- keys that are features here too (AMP, SyncBatchNorm, to_static training ...): typed like our own keys;
- keys with no effect in ppocr: accepted, removed from the config and listed once at start
  (``strip_ignored``), so a run never pretends to honour them;
- component names PaddleOCR has and ppocr does not: a config naming them is refused with one line per
  component (``unsupported_components``) instead of the "did you mean" hint meant for typos.

A key or name that is neither ours nor PaddleOCR's stays an error naming the closest valid one.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ppocr.utils.registry import (
    BACKBONES,
    DATASETS,
    HEADS,
    LOSSES,
    LR_SCHEDULERS,
    METRICS,
    NECKS,
    OPERATORS,
    OPTIMIZERS,
    POSTPROCESS,
    SAMPLERS,
    TRANSFORMS,
    ConfigError,
    Registry,
)

logger = logging.getLogger(__name__)

_OPT_STR = (str, type(None))

# PaddleOCR Global keys ppocr implements (ppocr.engine.train_features reads them).
FEATURE_GLOBAL_SCHEMA: Dict[str, Tuple[type, ...]] = {
    "use_amp": (bool,),
    "amp_level": (str,),
    "amp_dtype": (str,),
    "amp_custom_black_list": (list,),
    "amp_custom_white_list": (list,),
    "scale_loss": (int, float),
    "use_dynamic_loss_scaling": (bool,),
    "use_sync_bn": (bool,),
    "to_static": (bool,),
    "d2s_train_image_shape": (list, type(None)),
    "find_unused_parameters": (bool,),
}

# PaddleOCR Global keys with no effect here, and why.
IGNORED_GLOBAL_KEYS: Dict[str, str] = {
    "debug": "PaddleOCR's debug switch",
    "model_name": "PaddleX model name",
    "pdx_model_name": "PaddleX model name",
    "uniform_output_enabled": "PaddleX output layout",
    "rm_symbol": "used by SAR/SATRN/RobustScanner decoding",
    "training_step": "VisionLAN training stage",
    "num_heads": "SRN/ParseQ setting",
    "max_seq_len": "formula recognition setting",
    "input_size": "formula recognition setting",
    "allow_resize_largeImg": "formula recognition setting",
    "max_new_tokens": "formula recognition setting",
    "start_ema": "formula recognition EMA switch",
    "rec_char_dict_path": "formula recognition tokenizer",
    "calc_epoch_interval": "formula recognition metric interval",
    "is_pretrained_model_local": "PaddleX download switch",
    "log_ranks": "per-rank logging (ppocr logs rank 0)",
    "use_gcu": "device not supported",
    "use_metax_gpu": "device not supported",
}

IGNORED_SECTIONS: Dict[str, str] = {"profiler_options": "Paddle profiler settings"}

IGNORED_LOADER_KEYS: Dict[str, str] = {"num_sections": "not read by PaddleOCR's loader either"}

# Keys PaddleOCR's model parts accept and drop (their constructors take **kwargs), by component name.
IGNORED_COMPONENT_KEYS: Dict[str, Dict[str, str]] = {
    "ResNet_vd": {"disable_se": "ResNet_vd has no squeeze-excite blocks"},
    "AttentionHead": {"l2_decay": "not read by PaddleOCR's AttentionHead either"},
    "PPLCNetV3": {"pretrained": "PaddleOCR downloads ImageNet weights for it; ppocr downloads nothing, so start "
                                "from Global.pretrained_model (tools/import_onnx.py makes one from the packaged "
                                "models)"},
}

# Component names PaddleOCR registers (its registries and the configs it ships), by ppocr registry.
_PADDLEOCR_NAMES: Dict[str, Tuple[str, ...]] = {
    "transform": ("TPS", "STN_ON", "GA_SPIN", "TSRN", "TBSRN"),
    "backbone": (
        "MobileNetV3", "ResNet", "ResNet_vd", "ResNet_SAST", "PPLCNet", "PPLCNetV3", "PPHGNet_small",
        "PPLCNetV2_base", "RepSVTR_det", "Vary_VIT_B", "PPHGNetV2_B4", "PPHGNetV2_B6", "TableResNetExtra",
        "MobileNetV1Enhance", "ResNetFPN", "MTB", "ResNet31", "ResNet32", "ResNet45", "ResNet_ASTER", "MicroNet",
        "EfficientNetb3_PREN", "SVTRNet", "ViTSTR", "ResNetRFL", "DenseNet", "ShallowCNN", "ViTParseQ", "ViT",
        "RepSVTR", "SVTRv2", "ResNetV2", "HybridTransformer", "DonutSwinModel", "PPHGNetV2_B4_Formula",
        "PPHGNetV2_B6_Formula", "Vary_VIT_B_Formula", "repvit_svtr", "Kie_backbone", "LayoutLMForSer",
        "LayoutLMv2ForSer", "LayoutLMv2ForRe", "LayoutXLMForSer", "LayoutXLMForRe",
    ),
    "neck": (
        "FPN", "FCEFPN", "LKPAN", "DBFPN", "RSEFPN", "EASTFPN", "SASTFPN", "SequenceEncoder", "PGFPN", "TableFPN",
        "PRENFPN", "CSPPAN", "CTFPN", "RFAdaptor", "FPN_UNet",
    ),
    "head": (
        "DBHead", "PSEHead", "FCEHead", "EASTHead", "SASTHead", "CTCHead", "ClsHead", "AttentionHead", "SRNHead",
        "PGHead", "Transformer", "TableAttentionHead", "SARHead", "AsterHead", "SDMGRHead", "PRENHead",
        "MultiHead", "ABINetHead", "TableMasterHead", "VLHead", "SPINAttentionHead", "RobustScannerHead",
        "CT_Head", "DRRGHead", "CANHead", "SATRNHead", "ParseQHead", "CPPDHead", "RFLHead", "PFHeadLocal",
        "LaTeXOCRHead", "UniMERNetHead", "PPFormulaNet_Head", "SLAHead",
    ),
    "loss": (
        "DBLoss", "PSELoss", "EASTLoss", "SASTLoss", "FCELoss", "CTCLoss", "ClsLoss", "AttentionLoss", "SRNLoss",
        "PGLoss", "CombinedLoss", "NRTRLoss", "TableAttentionLoss", "SARLoss", "AsterLoss", "SDMGRLoss",
        "VQASerTokenLayoutLMLoss", "LossFromOutput", "PRENLoss", "MultiLoss", "TableMasterLoss", "SPINAttentionLoss",
        "VLLoss", "StrokeFocusLoss", "SLALoss", "CTLoss", "RFLLoss", "DRRGLoss", "CANLoss", "TelescopeLoss",
        "SATRNLoss", "NRTRLoss", "ParseQLoss", "CPPDLoss", "LaTeXOCRLoss", "UniMERNetLoss", "PPFormulaNet_S_Loss",
        "PPFormulaNet_L_Loss", "CELoss", "ACELoss", "CenterLoss", "DistanceLoss",
        "DistillationDMLLoss", "DistillationCTCLoss", "DistillationSARLoss", "DistillationNRTRLoss",
        "DistillationDBLoss", "DistillationDilaDBLoss", "DistillationDistanceLoss", "DistillationDKDLoss",
        "DistillCTCLogits", "DistillationVQASerTokenLayoutLMLoss", "DistillationSERDMLLoss",
        "DistillationLossFromOutput",
    ),
    "postprocess": (
        "DBPostProcess", "EASTPostProcess", "SASTPostProcess", "FCEPostProcess", "CTCLabelDecode", "AttnLabelDecode",
        "ClsPostProcess", "SRNLabelDecode", "PGPostProcess", "DistillationCTCLabelDecode", "TableLabelDecode",
        "DistillationDBPostProcess", "NRTRLabelDecode", "SARLabelDecode", "SEEDLabelDecode",
        "VQASerTokenLayoutLMPostProcess", "VQAReTokenLayoutLMPostProcess", "PRENLabelDecode",
        "DistillationSARLabelDecode", "ViTSTRLabelDecode", "ABINetLabelDecode", "TableMasterLabelDecode",
        "VLLabelDecode", "PicoDetPostProcess", "CTPostProcess", "RFLLabelDecode", "DRRGPostprocess",
        "CANLabelDecode", "SATRNLabelDecode", "ParseQLabelDecode", "CPPDLabelDecode", "PSEPostProcess",
        "SPINLabelDecode", "LaTeXOCRDecode", "UniMERNetDecode", "DistillationNRTRLabelDecode",
    ),
    "metric": (
        "DetMetric", "DetFCEMetric", "RecMetric", "ClsMetric", "E2EMetric", "DistillationMetric", "TableMetric",
        "KIEMetric", "VQASerTokenMetric", "VQAReTokenMetric", "SRMetric", "CTMetric", "CNTMetric", "CANMetric",
        "LaTeXOCRMetric",
    ),
    "operator": (
        "DecodeImage", "NormalizeImage", "ToCHWImage", "KeepKeys", "Pad", "Resize", "DetResizeForTest",
        "E2EResizeForTest", "KieResize", "SRResize", "ResizeNormalize", "GrayImageChannelFormat", "Fasttext",
        "DetLabelEncode", "CTCLabelEncode", "AttnLabelEncode", "ClsLabelEncode", "SRNLabelEncode",
        "NRTRLabelEncode", "SARLabelEncode", "SEEDLabelEncode", "PRENLabelEncode", "VQATokenLabelEncode",
        "MultiLabelEncode", "NRTRLabelEncode", "ViTSTRLabelEncode", "ABINetLabelEncode", "SPINLabelEncode",
        "VLLabelEncode", "RFLLabelEncode", "SATRNLabelEncode", "CANLabelEncode", "CPPDLabelEncode",
        "ParseQLabelEncode", "CTLabelEncode", "UniMERNetLabelEncode", "LatexOCRLabelEncode", "TableLabelEncode",
        "TableMasterLabelEncode", "KieLabelEncode", "IaaAugment", "MakeBorderMap", "MakeShrinkMap",
        "EastRandomCropData", "RandomCropImgMask", "PSERandomCrop", "MakePseGt", "RecAug", "RecConAug",
        "RecResizeImg", "ClsResizeImg", "SRNRecResizeImg", "GrayRecResizeImg", "SARRecResizeImg",
        "PRENResizeImg", "ABINetRecResizeImg", "SVTRRecResizeImg", "ABINetRecAug", "VLRecResizeImg",
        "SPINRecResizeImg", "RobustScannerRecResizeImg", "RFLRecResizeImg", "SVTRRecAug", "ParseQRecAug",
        "BaseDataAugmentation", "RandAugment", "CopyPaste", "ColorJitter", "SSLRotateResize", "EASTProcessTrain",
        "SASTProcessTrain", "PGProcessTrain", "RandomScaling", "RandomCropFlip", "RandomCropPolyInstances",
        "RandomRotatePolyInstances", "SquareResizePad", "FCENetTargets", "DRRGTargets", "MakeShrink",
        "GroupRandomHorizontalFlip", "GroupRandomRotate", "GroupRandomCropPadding", "MakeCentripetalShift",
        "ScaleAlignedShort", "RandomScale", "MinMaxResize", "LatexTrainTransform", "LatexTestTransform",
        "LatexImageFormat", "UniMERNetImgDecode", "UniMERNetTrainTransform", "UniMERNetTestTransform",
        "UniMERNetImageFormat", "ResizeTableImage", "PaddingTableImage", "TableBoxEncode",
    ),
    "dataset": (
        "SimpleDataSet", "LMDBDataSet", "PGDataSet", "PubTabDataSet", "LMDBDataSetSR", "LMDBDataSetTableMaster",
        "MultiScaleDataSet", "TextDetDataset", "TextRecDataset", "MSTextRecDataset", "PubTabTableRecDataset",
        "KieDataset", "LaTeXOCRDataSet", "CustomDataset",
    ),
    "optimizer": ("Momentum", "Adam", "AdamW", "RMSProp", "SGD", "Adadelta"),
    "lr scheduler": (
        "Linear", "Cosine", "Step", "Piecewise", "CyclicalCosine", "OneCycle", "Const", "DecayLearningRate",
        "MultiStepDecay", "TwoStepCosine", "LinearWarmupCosine",
    ),
    "collate_fn": (
        "DictCollator", "ListCollator", "SSLRotateCollate", "DyMaskCollator", "LaTeXOCRCollator",
        "UniMERNetCollator",
    ),
    "sampler": ("MultiScaleSampler",),
}

# How a registry's contents are named in the refusal line.
_PLURAL = {"loss": "losses", "postprocess": "post-processors", "lr scheduler": "lr schedules",
           "collate_fn": "collate functions", "sampler": "samplers"}


def paddleocr_names(kind: str) -> Tuple[str, ...]:
    return _PADDLEOCR_NAMES.get(kind, ())


def _section_of(config: Dict[str, Any], *path: str) -> Any:
    node: Any = config
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _named(section: Any) -> Optional[str]:
    if isinstance(section, dict) and isinstance(section.get("name"), str):
        return section["name"]
    return None


def _arch_parts(arch: Dict[str, Any], where: str) -> Iterator[Tuple[Registry, str, str]]:
    """The model parts of one BaseModel section; a det ``MobileNetV3`` is looked up as ours (MobileNetV3Det)."""
    from ppocr.modeling.backbones import resolve_backbone

    for key, registry in (("Transform", TRANSFORMS), ("Backbone", BACKBONES), ("Neck", NECKS), ("Head", HEADS)):
        section = arch.get(key)
        if key == "Backbone":
            section = resolve_backbone(arch.get("model_type", ""), section)
        name = _named(section)
        if name:
            yield registry, name, f"{where}.{key}"


def _components(config: Dict[str, Any]) -> Iterator[Tuple[Optional[Registry], str, str, str]]:
    """(registry or None, kind, name, dotted place) of every named component in a config."""
    arch = config.get("Architecture")
    if isinstance(arch, dict):
        models = arch.get("Models")
        if arch.get("name") == "DistillationModel" and isinstance(models, dict):
            for sub_name, sub in models.items():
                if isinstance(sub, dict):
                    sub = dict(sub, model_type=sub.get("model_type", arch.get("model_type", "")))
                    for registry, name, where in _arch_parts(sub, f"Architecture.Models.{sub_name}"):
                        yield registry, registry.kind, name, where
        else:
            for registry, name, where in _arch_parts(arch, "Architecture"):
                yield registry, registry.kind, name, where
    loss = config.get("Loss")
    if _named(loss):
        yield LOSSES, "loss", loss["name"], "Loss"
        for index, entry in enumerate(loss.get("loss_config_list") or []):
            if isinstance(entry, dict) and len(entry) == 1:
                yield LOSSES, "loss", next(iter(entry)), f"Loss.loss_config_list[{index}]"
    for section, registry in (("PostProcess", POSTPROCESS), ("Metric", METRICS), ("Optimizer", OPTIMIZERS)):
        name = _named(config.get(section))
        if name:
            yield registry, registry.kind, name, section
    lr_name = _named(_section_of(config, "Optimizer", "lr"))
    if lr_name:
        yield LR_SCHEDULERS, "lr scheduler", lr_name, "Optimizer.lr"
    for mode in ("Train", "Eval"):
        dataset = _section_of(config, mode, "dataset")
        if _named(dataset):
            yield DATASETS, "dataset", dataset["name"], f"{mode}.dataset"
        transforms = dataset.get("transforms") if isinstance(dataset, dict) else None
        for index, entry in enumerate(transforms or []):
            if isinstance(entry, dict) and len(entry) == 1:
                yield OPERATORS, "operator", next(iter(entry)), f"{mode}.dataset.transforms[{index}]"
        collate = _section_of(config, mode, "loader", "collate_fn")
        if isinstance(collate, str):
            yield None, "collate_fn", collate, f"{mode}.loader.collate_fn"
        sampler = _named(_section_of(config, mode, "sampler"))
        if sampler:
            yield SAMPLERS, "sampler", sampler, f"{mode}.sampler"


def unsupported_components(config: Dict[str, Any]) -> List[str]:
    """One line per PaddleOCR component the config names and ppocr lacks (each name reported once).

    Names unknown to both are left to the registries, whose error suggests the closest name.
    """
    lines, seen = [], set()
    for registry, kind, name, where in _components(config):
        if registry is not None and name in registry:
            continue
        # kinds without a ppocr registry (collate_fn) are refused whatever the name
        if (registry is not None and name not in paddleocr_names(kind)) or (kind, name) in seen:
            continue
        seen.add((kind, name))
        available = ", ".join(registry.names()) if registry is not None else "(none: ppocr batches with its own)"
        lines.append(f"{where}: {name} is not available in ppocr; available {_PLURAL.get(kind, kind + 's')}: "
                     f"{available}")
    return lines


def _dict_paths(config: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
    """(dotted place, path) of every character dict a config names."""
    path = _section_of(config, "Global", "character_dict_path")
    if isinstance(path, str) and path:
        yield "Global.character_dict_path", path
    path = _section_of(config, "PostProcess", "character_dict_path")
    if isinstance(path, str) and path:
        yield "PostProcess.character_dict_path", path
    for mode in ("Train", "Eval"):
        dataset = _section_of(config, mode, "dataset")
        transforms = dataset.get("transforms") if isinstance(dataset, dict) else None
        for index, entry in enumerate(transforms or []):
            if isinstance(entry, dict) and len(entry) == 1:
                args = next(iter(entry.values()))
                if isinstance(args, dict) and isinstance(args.get("character_dict_path"), str):
                    yield f"{mode}.dataset.transforms[{index}].character_dict_path", args["character_dict_path"]


def missing_dicts(config: Dict[str, Any]) -> List[str]:
    """One line per character dict the config names that exists neither as given nor in ppocr."""
    from ppocr.utils.character import resolve_dict_path

    lines, seen = [], set()
    for where, path in _dict_paths(config):
        if path in seen:
            continue
        seen.add(path)
        try:
            resolve_dict_path(path)
        except FileNotFoundError as exc:
            lines.append(f"{where}: {exc}")
    return lines


class UnsupportedConfig(ConfigError):
    """A PaddleOCR config that names components ppocr does not have; the message has one line per component."""

    def __init__(self, lines: List[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def _component_sections(config: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(dotted place, section) of the model parts, where PaddleOCR constructors swallow extra keys."""
    arch = config.get("Architecture")
    if not isinstance(arch, dict):
        return
    models = arch.get("Models") if arch.get("name") == "DistillationModel" else None
    parts = [(f"Architecture.Models.{n}", m) for n, m in models.items()] if isinstance(models, dict) \
        else [("Architecture", arch)]
    for where, part in parts:
        if not isinstance(part, dict):
            continue
        for key in ("Transform", "Backbone", "Neck", "Head"):
            if isinstance(part.get(key), dict):
                yield f"{where}.{key}", part[key]


def ignored_keys(config: Dict[str, Any]) -> List[str]:
    """Dotted names of the PaddleOCR keys in ``config`` that have no effect in ppocr."""
    found = [section for section in config if section in IGNORED_SECTIONS]
    if isinstance(config.get("Global"), dict):
        found += [f"Global.{key}" for key in config["Global"] if key in IGNORED_GLOBAL_KEYS]
    for mode in ("Train", "Eval"):
        loader = _section_of(config, mode, "loader")
        if isinstance(loader, dict):
            found += [f"{mode}.loader.{key}" for key in loader if key in IGNORED_LOADER_KEYS]
    for where, section in _component_sections(config):
        keys = IGNORED_COMPONENT_KEYS.get(_named(section) or "", {})
        found += [f"{where}.{key}" for key in section if key in keys]
    return found


def without_ignored(config: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """A copy of ``config`` without the PaddleOCR keys that have no effect here, and their dotted names."""
    dropped = ignored_keys(config)
    if not dropped:
        return config, []
    config = copy.deepcopy(config)
    for dotted in dropped:
        *parents, last = dotted.split(".")
        node = config
        for part in parents:
            node = node[part]
        node.pop(last, None)
    return config, dropped


def _op_index(transforms: List[Any], name: str) -> Optional[int]:
    for index, entry in enumerate(transforms):
        if isinstance(entry, dict) and name in entry:
            return index
    return None


def with_train_resize(config: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[str]]:
    """A rec Train pipeline whose KeepKeys asks for ``valid_ratio`` with no resize op before it gets Eval's
    RecResizeImg inserted before KeepKeys; returns the config and a note saying so (or None when unchanged).

    PaddleOCR's PP-OCRv4 rec distillation config has this fault: its Train transforms were copied from a
    MultiScaleDataSet config (whose dataset resizes) onto a SimpleDataSet, and PaddleOCR fails on it with
    KeyError 'valid_ratio' (its issue #10700).
    """
    dataset = _section_of(config, "Train", "dataset")
    eval_transforms = _section_of(config, "Eval", "dataset", "transforms")
    if _section_of(config, "Architecture", "model_type") != "rec" or not isinstance(dataset, dict) \
            or dataset.get("name") == "MultiScaleDataSet" or not isinstance(dataset.get("transforms"), list) \
            or not isinstance(eval_transforms, list):
        return config, None
    transforms = dataset["transforms"]
    keep = _op_index(transforms, "KeepKeys")
    eval_resize = _op_index(eval_transforms, "RecResizeImg")
    if keep is None or eval_resize is None or "valid_ratio" not in (
            (transforms[keep]["KeepKeys"] or {}).get("keep_keys") or []):
        return config, None
    if any(isinstance(entry, dict) and any("Resize" in name for name in entry) for entry in transforms[:keep]):
        return config, None
    config = copy.deepcopy(config)
    resize = copy.deepcopy(eval_transforms[eval_resize])
    config["Train"]["dataset"]["transforms"].insert(keep, resize)
    shape = (resize["RecResizeImg"] or {}).get("image_shape")
    return config, (f"Train.dataset.transforms: KeepKeys asks for valid_ratio but no op before it resizes the "
                    f"image (a fault of PaddleOCR's PP-OCRv4 distillation config); inserted RecResizeImg "
                    f"image_shape {shape} from Eval before KeepKeys")


def strip_ignored(config: Dict[str, Any]) -> Dict[str, Any]:
    """``without_ignored`` that lists the dropped keys once (INFO), for the start of a run; it also repairs
    the known faults of PaddleOCR's own configs (``with_train_resize``), saying so in a WARNING."""
    config, dropped = without_ignored(config)
    if dropped:
        logger.info("PaddleOCR keys without effect in ppocr (ignored): %s", ", ".join(dropped))
    config, note = with_train_resize(config)
    if note:
        logger.warning(note)
    return config

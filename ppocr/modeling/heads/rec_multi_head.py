"""MultiHead: PP-OCRv3/v4 recognition's CTC branch plus a guiding attention branch (SAR or NRTR) for training.

Only the CTC branch runs in eval mode and in exported graphs; the attention branch (GTC) exists to train the
backbone (the CTC neck reads the backbone through ``use_guide``'s gradient stop). Class counts: ``out_channels``
is the CTC count C (blank + characters, what ``CTCLabelDecode`` gives); SAR predicts over C + 2 ids and NRTR over
C + 3, as PaddleOCR sizes them; ``out_channels_list`` (PaddleOCR's ``{CTCLabelDecode, SARLabelDecode,
NRTRLabelDecode}``) sets them explicitly. A head list with the CTC branch alone is accepted (fine-tuning a
deployed model, whose attention branch was not shipped).
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Optional, Sequence, Union

import paddle
import paddle.nn as nn

from ppocr.modeling.heads.rec_nrtr_head import NRTRHead
from ppocr.utils.registry import HEADS, NECKS, ConfigError

logger = logging.getLogger(__name__)

BRANCHES = ("CTCHead", "SARHead", "NRTRHead")
# MultiHead's NRTRHead entry: key → (constructor argument, default)
_NRTR_KEYS = {"nrtr_dim": 256, "max_text_length": 25, "num_decoder_layers": 4}
_WHERE = "Architecture.Head.head_list"


class FCTranspose(nn.Layer):
    """N×C×L → N×L×C, then a bias-free Linear to the decoder width."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, out_channels, bias_attr=False)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(x.transpose([0, 2, 1]))


def _class_counts(out_channels: Optional[int], out_channels_list: Optional[Dict[str, int]]) -> Dict[str, int]:
    if out_channels_list:
        needed = {"CTCLabelDecode"}
        if not isinstance(out_channels_list, dict) or not needed <= set(out_channels_list):
            raise ConfigError(f"key 'out_channels_list' of head MultiHead must map CTCLabelDecode (and "
                              f"SARLabelDecode / NRTRLabelDecode) to class counts, got {out_channels_list!r}")
        ctc = int(out_channels_list["CTCLabelDecode"])
        return {"ctc": ctc, "sar": int(out_channels_list.get("SARLabelDecode", ctc + 2)),
                "nrtr": int(out_channels_list.get("NRTRLabelDecode", ctc + 3))}
    if out_channels is None:
        raise ConfigError("head MultiHead needs its class count: set PostProcess (CTCLabelDecode with the "
                          "character dict) or out_channels / out_channels_list")
    return {"ctc": out_channels, "sar": out_channels + 2, "nrtr": out_channels + 3}


def _entries(head_list: Any) -> Dict[str, Dict[str, Any]]:
    if not isinstance(head_list, (list, tuple)) or not head_list:
        raise ConfigError("must list the branches, e.g. [{CTCHead: {Neck: {...}, Head: {...}}}, {NRTRHead: {...}}]",
                          _WHERE)
    entries: Dict[str, Dict[str, Any]] = {}
    for index, entry in enumerate(head_list):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"each entry must be {{BranchName: {{...}}}}, got {entry!r}", f"{_WHERE}[{index}]")
        (name, args), = entry.items()
        if name not in BRANCHES:
            raise ConfigError(f"unknown branch {name!r}; MultiHead supports {', '.join(BRANCHES)}",
                              f"{_WHERE}[{index}]")
        if name in entries:
            raise ConfigError(f"branch {name} is listed twice", f"{_WHERE}[{index}]")
        if args is not None and not isinstance(args, dict):
            raise ConfigError(f"arguments of {name} must be a mapping, got {args!r}", f"{_WHERE}[{index}]")
        entries[name] = copy.deepcopy(args or {})
    if "CTCHead" not in entries:
        raise ConfigError("needs a CTCHead branch (the one inference runs)", _WHERE)
    if "SARHead" in entries and "NRTRHead" in entries:
        raise ConfigError("takes one attention branch: SARHead or NRTRHead, not both", _WHERE)
    return entries


@HEADS.register()
class MultiHead(nn.Layer):
    """Train: ``{"ctc": logits, "ctc_neck": features, "sar" | "nrtr": logits}``; eval: the CTC probabilities
    (or the training dict, computed with every layer in eval mode, while ``training_outputs`` is set).

    ``targets`` (the batch after the image) is ``[label_ctc, label_sar | label_gtc, length, valid_ratio]``.
    """

    def __init__(self, in_channels: int, head_list: list, out_channels: Optional[int] = None,
                 out_channels_list: Optional[dict] = None):
        super().__init__()
        counts = _class_counts(out_channels, out_channels_list)
        entries = _entries(head_list)
        self.out_channels = counts["ctc"]
        self.gtc_kind: Optional[str] = None
        # the training dict in eval mode too: set by DistillationModel on a frozen teacher while the model trains
        self.training_outputs = False

        ctc = entries["CTCHead"]
        unknown = set(ctc) - {"Neck", "Head"}
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}; CTCHead takes Neck and Head", f"{_WHERE}.CTCHead")
        neck = dict(ctc.get("Neck") or {"name": "reshape"})
        encoder_type = neck.pop("name", None)
        if encoder_type is None:
            raise ConfigError("the Neck needs a 'name' (svtr, rnn, fc or reshape)", f"{_WHERE}.CTCHead.Neck")
        self.ctc_encoder = NECKS.build({"name": "SequenceEncoder", "encoder_type": encoder_type, **neck},
                                       where=f"{_WHERE}.CTCHead.Neck", in_channels=in_channels)
        if neck.get("use_guide") and not ({"SARHead", "NRTRHead"} & set(entries)):
            logger.warning("MultiHead: the CTC neck has use_guide: true but there is no SAR/NRTR branch, so no "
                           "gradient reaches the backbone; set use_guide: false to train it through CTC")
        self.ctc_head = HEADS.build({"name": "CTCHead", **(ctc.get("Head") or {})}, where=f"{_WHERE}.CTCHead.Head",
                                    in_channels=self.ctc_encoder.out_channels, out_channels=counts["ctc"])
        if "SARHead" in entries:
            self.gtc_kind = "sar"
            self.sar_head = HEADS.build({"name": "SARHead", **entries["SARHead"]}, where=f"{_WHERE}.SARHead",
                                        in_channels=in_channels, out_channels=counts["sar"])
        if "NRTRHead" in entries:
            args = entries["NRTRHead"]
            unknown = set(args) - set(_NRTR_KEYS)
            if unknown:
                raise ConfigError(f"unknown key(s) {sorted(unknown)}; NRTRHead takes {', '.join(_NRTR_KEYS)}",
                                  f"{_WHERE}.NRTRHead")
            values = {key: args.get(key, default) for key, default in _NRTR_KEYS.items()}
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"key {key!r} must be a positive integer, got {value!r}", f"{_WHERE}.NRTRHead")
            dim = values["nrtr_dim"]
            if dim % 32:
                raise ConfigError(f"key 'nrtr_dim' must be a multiple of 32 (32 per attention head), got {dim}",
                                  f"{_WHERE}.NRTRHead")
            self.gtc_kind = "nrtr"
            self.before_gtc = nn.Sequential(nn.Flatten(2), FCTranspose(in_channels, dim))
            # PaddleOCR's key for the NRTR decoder is gtc_head, so its checkpoints load by name
            self.gtc_head = NRTRHead(counts["nrtr"], d_model=dim, nhead=dim // 32,
                                      num_decoder_layers=values["num_decoder_layers"],
                                      max_len=values["max_text_length"], dim_feedforward=dim * 4)

    def forward(self, x: paddle.Tensor, targets: Optional[Sequence[Any]] = None
                ) -> Union[paddle.Tensor, Dict[str, paddle.Tensor]]:
        features = self.ctc_encoder(x)
        if not (self.training or self.training_outputs):
            return self.ctc_head(features, targets)
        out = {"ctc": self.ctc_head.training_output(features), "ctc_neck": features}
        if self.gtc_kind is None:
            return out
        if targets is None or len(targets) < 2:
            raise ValueError(f"MultiHead's {self.gtc_kind} branch needs the labels while training: KeepKeys must give "
                             "[image, label_ctc, label_sar | label_gtc, length, valid_ratio]")
        if self.gtc_kind == "sar":
            out["sar"] = self.sar_head.teacher_forced(x, targets[1:])
        else:
            out["nrtr"] = self.gtc_head.teacher_forced(self.before_gtc(x), targets[1:])
        return out

"""Losses over the named sub-models of a DistillationModel (PP-OCRv2's CML and U-DML, PP-OCRv3/v4 rec).

Each loss reads sub-model outputs by name (``model_name_list`` or ``model_name_pairs``) and, with ``key``,
one entry of a ``return_all_feats`` output (``head_out``, ``backbone_out``, ``maps``). It returns ``loss``
(the sum) plus one term per model or pair under PaddleOCR's names — ``loss_ctc_Student_0``, ``dml_0``,
``dml_thrink_maps_0``, ``loss_distance_l2_Student_Teacher_0``, ``db_Student_loss_shrink_maps``,
``dila_dbloss_Student_Teacher``, ``dkd_0``, ``ctc_logits_0`` — so training logs read the same. ``name``
changes the prefix.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.losses.det_db_loss import DBLoss
from ppocr.losses.rec_ctc_loss import CTCLoss
from ppocr.losses.rec_multi_loss import attention_batch, ctc_batch
from ppocr.losses.rec_nrtr_loss import NRTRLoss
from ppocr.losses.rec_sar_loss import SARLoss
from ppocr.postprocess.distillation_postprocess import select_output
from ppocr.utils.registry import LOSSES, ConfigError

ACTIVATIONS = ("softmax", "sigmoid")
DISTANCE_MODES = {"l1": F.l1_loss, "l2": F.mse_loss, "smooth_l1": F.smooth_l1_loss}
# DB output channels by PaddleOCR's map names ("thrink_maps" is its spelling of the shrink map).
MAP_CHANNELS = {"thrink_maps": 0, "shrink_maps": 0, "threshold_maps": 1, "binary_maps": 2}
# CML: the teacher's probability map binarised at this value, then dilated by a 2×2 kernel.
TEACHER_THRESH = 0.3
# Probability floors inside the logarithms, as PaddleOCR's two DML forms use them.
_EPS_PER_SAMPLE = 1e-10
_EPS_PER_ELEMENT = 1e-5
# DKD's non-target distribution: subtracted from the target class's logit to leave it out of the softmax.
_NON_TARGET_SHIFT = 1000.0


def _model_names(value: Any, owner: str) -> List[str]:
    names = [value] if isinstance(value, str) else list(value or [])
    if not names or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"key 'model_name_list' of loss {owner} must list sub-model names, got {value!r}", "Loss")
    return names


def _model_pairs(value: Any, owner: str) -> List[Tuple[str, str]]:
    def is_pair(item: Any) -> bool:
        return isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, str) for v in item)

    if is_pair(value):  # one pair written flat, as PaddleOCR's CML config does: [Student, Student2]
        return [tuple(value)]
    pairs = list(value or [])
    if not pairs or not all(is_pair(pair) for pair in pairs):
        raise ConfigError(f"key 'model_name_pairs' of loss {owner} must be [[name, name], ...], got {value!r}",
                          "Loss")
    return [tuple(pair) for pair in pairs]


def _branch(output: Any, branch: str, owner: str) -> Any:
    """One branch (``ctc``, ``sar``, ``nrtr``) of a MultiHead training output."""
    if not isinstance(output, dict) or branch not in output:
        keys = sorted(output) if isinstance(output, dict) else type(output).__name__
        raise KeyError(f"{owner}: multi_head needs MultiHead's {branch!r} branch output, got {keys}")
    return output[branch]


def _with_total(terms: Dict[str, paddle.Tensor]) -> Dict[str, paddle.Tensor]:
    return {"loss": paddle.add_n(list(terms.values())), **terms}


def _maps(output: Any) -> paddle.Tensor:
    """The N×C×H×W DB maps from a det sub-model output (its dict or the ``maps`` entry itself)."""
    return output["maps"] if isinstance(output, dict) else output


def _tensor(value: Any, dtype: Any) -> paddle.Tensor:
    return paddle.cast(value if isinstance(value, paddle.Tensor) else paddle.to_tensor(value), dtype)


def symmetric_kl(p: paddle.Tensor, q: paddle.Tensor, per_sample_sum: bool) -> paddle.Tensor:
    """(KL(p‖q) + KL(q‖p)) / 2 of probabilities, elementwise ½(p − q)(log p − log q).

    ``per_sample_sum``: summed over all but the batch axis, then averaged over the batch (each row a
    distribution, e.g. CTC steps over classes); otherwise averaged over every element (probability maps).
    """
    eps = _EPS_PER_SAMPLE if per_sample_sum else _EPS_PER_ELEMENT
    term = 0.5 * (p - q) * (paddle.log(p + eps) - paddle.log(q + eps))
    if per_sample_sum:
        return term.sum() / p.shape[0]
    return term.mean()


def kl_rows(p: paddle.Tensor, q: paddle.Tensor) -> paddle.Tensor:
    """KL(p‖q) of each row of two probability tables (the divergence summed over axis 1)."""
    return (p * (paddle.log(p + _EPS_PER_SAMPLE) - paddle.log(q + _EPS_PER_SAMPLE))).sum(1)


@LOSSES.register()
class DistillationDMLLoss(nn.Layer):
    """Deep mutual learning: symmetric KL between the outputs of each pair (gradients reach both).

    ``act`` (softmax over the last axis, sigmoid, or none for outputs that are probabilities already)
    turns outputs into probabilities. ``use_log: true`` (PaddleOCR's recognition setting) sums the
    divergence over time steps and classes and averages over the batch; false (detection) averages it
    over every element. ``maps_name`` (thrink_maps / threshold_maps / binary_maps, one or a list)
    compares those channels of DB maps, one term each. ``multi_head`` with ``dis_head`` (ctc, sar, nrtr)
    compares one branch of MultiHead outputs (PP-OCRv3's dml_ctc / dml_sar).
    """

    def __init__(
        self,
        model_name_pairs: list = (),
        act: Optional[str] = None,
        use_log: bool = False,
        key: Optional[str] = None,
        maps_name: Optional[Union[str, List[str]]] = None,
        name: str = "dml",
        multi_head: bool = False,
        dis_head: str = "ctc",
    ):
        super().__init__()
        if multi_head and dis_head not in ("ctc", "sar", "nrtr"):
            raise ConfigError(f"key 'dis_head' of loss DistillationDMLLoss must be ctc, sar or nrtr, got {dis_head!r}",
                              "Loss")
        self.multi_head = multi_head
        self.dis_head = dis_head
        if act is not None and act not in ACTIVATIONS:
            raise ConfigError(f"key 'act' of loss DistillationDMLLoss must be one of {ACTIVATIONS} or null, "
                              f"got {act!r}", "Loss")
        self.pairs = _model_pairs(model_name_pairs, type(self).__name__)
        self.act = act
        self.use_log = use_log
        self.key = key
        self.name = name
        self.maps_name = [maps_name] if isinstance(maps_name, str) else maps_name
        for map_name in self.maps_name or []:
            if map_name not in MAP_CHANNELS:
                raise ConfigError(f"key 'maps_name' of loss DistillationDMLLoss must be among "
                                  f"{sorted(MAP_CHANNELS)}, got {map_name!r}", "Loss")

    def _probabilities(self, output: Any) -> paddle.Tensor:
        if isinstance(output, (list, tuple)):  # a CTC head's (features, logits)
            output = output[-1]
        if self.act == "softmax":
            return F.softmax(output, axis=-1)
        if self.act == "sigmoid":
            return F.sigmoid(output)
        return output

    def _divergence(self, out1: Any, out2: Any) -> paddle.Tensor:
        return symmetric_kl(self._probabilities(out1), self._probabilities(out2), per_sample_sum=self.use_log)

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for index, (first, second) in enumerate(self.pairs):
            out1 = select_output(predicts, first, self.key, owner)
            out2 = select_output(predicts, second, self.key, owner)
            if self.multi_head:
                out1, out2 = _branch(out1, self.dis_head, owner), _branch(out2, self.dis_head, owner)
            if self.maps_name is None:
                terms[f"{self.name}_{index}"] = self._divergence(out1, out2)
                continue
            maps1, maps2 = _maps(out1), _maps(out2)
            for map_name in self.maps_name:
                channel = MAP_CHANNELS[map_name]
                terms[f"{self.name}_{map_name}_{index}"] = self._divergence(maps1[:, channel], maps2[:, channel])
        return _with_total(terms)


@LOSSES.register()
class DistillationDistanceLoss(nn.Layer):
    """Feature distance between each pair (U-DML's feature loss on ``backbone_out``), mean over elements:
    ``mode`` l2 (squared error), l1 or smooth_l1 (Huber with delta 1)."""

    def __init__(self, mode: str = "l2", model_name_pairs: list = (), key: Optional[str] = None,
                 name: str = "loss_distance"):
        super().__init__()
        if mode not in DISTANCE_MODES:
            raise ConfigError(f"key 'mode' of loss DistillationDistanceLoss must be one of {sorted(DISTANCE_MODES)}, "
                              f"got {mode!r}", "Loss")
        self.mode = mode
        self.distance = DISTANCE_MODES[mode]
        self.pairs = _model_pairs(model_name_pairs, type(self).__name__)
        self.key = key
        self.name = name

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for index, (first, second) in enumerate(self.pairs):
            out1 = select_output(predicts, first, self.key, owner)
            out2 = select_output(predicts, second, self.key, owner)
            terms[f"{self.name}_{self.mode}_{first}_{second}_{index}"] = self.distance(out1, out2)
        return _with_total(terms)


@LOSSES.register()
class DistillationCTCLoss(CTCLoss):
    """CTC against the ground truth for every sub-model in ``model_name_list`` (``key: head_out``);
    ``multi_head`` reads the ``ctc`` branch of MultiHead outputs and its labels from a multi-head batch."""

    def __init__(self, model_name_list: list = (), key: Optional[str] = None, use_focal_loss: bool = False,
                 name: str = "loss_ctc", multi_head: bool = False):
        super().__init__(use_focal_loss=use_focal_loss)
        self.model_names = _model_names(model_name_list, type(self).__name__)
        self.key = key
        self.name = name
        self.multi_head = multi_head

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for index, model_name in enumerate(self.model_names):
            output = select_output(predicts, model_name, self.key, owner)
            if self.multi_head:
                output, labels = _branch(output, "ctc", owner), ctc_batch(batch)
            else:
                labels = batch
            terms[f"{self.name}_{model_name}_{index}"] = super().forward(output, labels)["loss"]
        return _with_total(terms)


class _DistillationBranchLoss:
    """The attention-branch loss (SAR or NRTR) of every sub-model in ``model_name_list``."""

    branch = ""

    def _init_selection(self, model_name_list: Any, key: Optional[str], multi_head: bool, name: str) -> None:
        self.model_names = _model_names(model_name_list, type(self).__name__)
        self.key = key
        self.multi_head = multi_head
        self.name = name

    def _terms(self, base_forward: Any, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for index, model_name in enumerate(self.model_names):
            output = select_output(predicts, model_name, self.key, owner)
            if self.multi_head:
                output, labels = _branch(output, self.branch, owner), attention_batch(batch)
            else:
                labels = batch
            terms[f"{self.name}_{model_name}_{index}"] = base_forward(output, labels)["loss"]
        return _with_total(terms)


@LOSSES.register()
class DistillationSARLoss(SARLoss, _DistillationBranchLoss):
    """SARLoss for every sub-model in ``model_name_list``; ``multi_head`` reads MultiHead's ``sar`` branch."""

    branch = "sar"

    def __init__(self, model_name_list: list = (), key: Optional[str] = None, multi_head: bool = False,
                 ignore_index: Optional[int] = None, name: str = "loss_sar"):
        super().__init__(ignore_index=ignore_index)
        self._init_selection(model_name_list, key, multi_head, name)

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        return self._terms(super().forward, predicts, batch)


@LOSSES.register()
class DistillationNRTRLoss(NRTRLoss, _DistillationBranchLoss):
    """NRTRLoss for every sub-model in ``model_name_list``; ``multi_head`` reads MultiHead's ``nrtr`` branch."""

    branch = "nrtr"

    def __init__(self, model_name_list: list = (), key: Optional[str] = None, multi_head: bool = False,
                 smoothing: bool = True, ignore_index: int = 0, name: str = "loss_nrtr"):
        super().__init__(smoothing=smoothing, ignore_index=ignore_index)
        self._init_selection(model_name_list, key, multi_head, name)

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        return self._terms(super().forward, predicts, batch)


@LOSSES.register()
class DistillationDBLoss(DBLoss):
    """DBLoss against the ground truth for every sub-model in ``model_name_list`` (CML's GT loss);
    terms ``db_<model>_loss_shrink_maps`` / ``_loss_threshold_maps`` / ``_loss_binary_maps``."""

    def __init__(
        self,
        model_name_list: list = (),
        key: Optional[str] = None,
        balance_loss: bool = True,
        main_loss_type: str = "DiceLoss",
        alpha: float = 5,
        beta: float = 10,
        ohem_ratio: float = 3,
        eps: float = 1e-6,
        name: str = "db",
    ):
        super().__init__(balance_loss=balance_loss, main_loss_type=main_loss_type, alpha=alpha, beta=beta,
                         ohem_ratio=ohem_ratio, eps=eps)
        self.model_names = _model_names(model_name_list, type(self).__name__)
        self.key = key
        self.name = name

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for model_name in self.model_names:
            maps = _maps(select_output(predicts, model_name, self.key, owner))
            for term, value in super().forward({"maps": maps}, batch).items():
                if term != "loss":
                    terms[f"{self.name}_{model_name}_{term}"] = value
        return _with_total(terms)


def dilated_teacher_target(prob_map: paddle.Tensor, thresh: float = TEACHER_THRESH) -> paddle.Tensor:
    """CML's distillation target from a teacher's N×H×W probability map: 1 where it exceeds ``thresh``,
    dilated by a 2×2 kernel (each pixel takes the maximum of itself and its left, upper and upper-left
    neighbours, as ``cv2.dilate`` with ``np.ones((2, 2))``). Carries no gradient."""
    binary = paddle.cast(prob_map.detach() > thresh, prob_map.dtype).unsqueeze(1)
    padded = F.pad(binary, [1, 0, 1, 0])  # left, right, top, bottom
    return F.max_pool2d(padded, kernel_size=2, stride=1).squeeze(1)


@LOSSES.register()
class DistillationDilaDBLoss(DBLoss):
    """CML's distill loss: each ``[student, teacher]`` pair's student learns the teacher's dilated binary
    shrink map (:func:`dilated_teacher_target`) — ``alpha`` × the shrink-map loss on the probability map
    plus Dice on the binary map, inside the ground-truth shrink mask."""

    def __init__(
        self,
        model_name_pairs: list = (),
        key: Optional[str] = None,
        balance_loss: bool = True,
        main_loss_type: str = "DiceLoss",
        alpha: float = 5,
        beta: float = 10,
        ohem_ratio: float = 3,
        eps: float = 1e-6,
        name: str = "dila_dbloss",
    ):
        super().__init__(balance_loss=balance_loss, main_loss_type=main_loss_type, alpha=alpha, beta=beta,
                         ohem_ratio=ohem_ratio, eps=eps)
        self.pairs = _model_pairs(model_name_pairs, type(self).__name__)
        self.key = key
        self.name = name

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        if len(batch) < 5:
            raise ValueError("DistillationDilaDBLoss: batch must be [image, threshold_map, threshold_mask, "
                             f"shrink_map, shrink_mask], got {len(batch)} item(s)")
        owner = type(self).__name__
        terms = {}
        for student, teacher in self.pairs:
            student_maps = _maps(select_output(predicts, student, self.key, owner))
            teacher_maps = _maps(select_output(predicts, teacher, self.key, owner))
            target = dilated_teacher_target(teacher_maps[:, 0])
            mask = _tensor(batch[4], student_maps.dtype)
            shrink = self.alpha * self.shrink_loss(student_maps[:, 0], target, mask)
            binary = self.binary_loss(student_maps[:, 2], target, mask)
            terms[f"{self.name}_{student}_{teacher}"] = shrink + binary
        return _with_total(terms)


def _attention_targets(logits: paddle.Tensor, batch: Sequence[Any], branch: str
                       ) -> Tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """(N·T×C logits, N·T target ids, N·T mask of real steps) of an NRTR or SAR branch output, aligned as
    NRTRLoss and SARLoss align them; ``batch`` is ``[image, label_gtc | label_sar, length, ...]``."""
    label = _tensor(batch[1], "int64")
    if branch == "nrtr":
        target = label[:, 1: 2 + int(_tensor(batch[2], "int64").max())]
        padding = 0
    else:
        logits, target = logits[:, :-1, :], label[:, 1:]
        padding = logits.shape[2]  # SAR's padding id is its class count
    classes = logits.shape[2]
    target = target.reshape([-1])
    mask = target != padding
    return logits.reshape([-1, classes]), paddle.where(mask, target, paddle.zeros_like(target)), mask


def decoupled_kd(student: paddle.Tensor, teacher: paddle.Tensor, target: paddle.Tensor, mask: paddle.Tensor,
                 temperature: float, alpha: float, beta: float) -> paddle.Tensor:
    """Decoupled knowledge distillation (Zhao et al. 2022) over M×C logits, averaged over the steps in ``mask``.

    TCKD: KL between teacher and student of the binary (target class, all others) split; NCKD: KL between
    their distributions over the non-target classes. Both at ``temperature``, scaled by its square; the
    loss is ``alpha`` · TCKD + ``beta`` · NCKD. The teacher side carries no gradient.
    """
    classes = student.shape[1]
    is_target = F.one_hot(target, classes).astype(student.dtype)
    p_student = F.softmax(student / temperature, axis=1)
    p_teacher = F.softmax(teacher.detach() / temperature, axis=1)

    def binary(p: paddle.Tensor) -> paddle.Tensor:
        hit = (p * is_target).sum(axis=1, keepdim=True)
        return paddle.concat([hit, 1.0 - hit], axis=1)

    b_student, b_teacher = binary(p_student), binary(p_teacher)
    tckd = kl_rows(b_teacher, b_student)
    hide_target = _NON_TARGET_SHIFT * is_target  # the target class out of the softmax
    q_teacher = F.softmax(teacher.detach() / temperature - hide_target, axis=1)
    log_q_student = F.log_softmax(student / temperature - hide_target, axis=1)
    nckd = (q_teacher * (paddle.log(q_teacher + _EPS_PER_SAMPLE) - log_q_student)).sum(1)
    per_step = (alpha * tckd + beta * nckd) * temperature ** 2
    keep = mask.astype(per_step.dtype)
    return (per_step * keep).sum() / paddle.clip(keep.sum(), min=1.0)


@LOSSES.register()
class DistillationDKDLoss(nn.Layer):
    """Decoupled knowledge distillation (:func:`decoupled_kd`) from each pair's second model (teacher) to its
    first (student), on the attention branch of MultiHead outputs (PP-OCRv4's rec distillation):
    ``multi_head: true`` with ``dis_head`` gtc (whichever of nrtr / sar the model has), nrtr or sar. The
    per-step targets are the label ids that branch is trained on; padding steps do not count. (PaddleOCR
    averages over the padding steps too.) Terms ``<name>_<pair index>``.
    """

    def __init__(self, model_name_pairs: list = (), key: Optional[str] = None, multi_head: bool = False,
                 dis_head: str = "gtc", name: str = "dkd", temperature: float = 1.0, alpha: float = 1.0,
                 beta: float = 1.0):
        super().__init__()
        owner = type(self).__name__
        if not multi_head or dis_head not in ("gtc", "nrtr", "sar"):
            raise ConfigError(f"loss {owner} needs per-step label targets: set multi_head: true with dis_head gtc, "
                              f"nrtr or sar, got multi_head {multi_head!r}, dis_head {dis_head!r}", "Loss")
        for key_name, value in (("temperature", temperature), ("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (key_name == "temperature" and value == 0):
                kind = "positive" if key_name == "temperature" else "non-negative"
                raise ConfigError(f"key {key_name!r} of loss {owner} must be a {kind} number, got {value!r}", "Loss")
        self.pairs = _model_pairs(model_name_pairs, owner)
        self.key = key
        self.dis_head = dis_head
        self.name = name
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def _branch_name(self, output: Any, owner: str) -> str:
        if self.dis_head != "gtc":
            return self.dis_head
        found = [name for name in ("nrtr", "sar") if isinstance(output, dict) and name in output]
        if not found:
            keys = sorted(output) if isinstance(output, dict) else type(output).__name__
            raise KeyError(f"{owner}: dis_head gtc needs MultiHead's nrtr or sar branch output, got {keys}")
        return found[0]

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        labels = attention_batch(batch)
        terms = {}
        for index, (student_name, teacher_name) in enumerate(self.pairs):
            student = select_output(predicts, student_name, self.key, owner)
            teacher = select_output(predicts, teacher_name, self.key, owner)
            branch = self._branch_name(student, owner)
            student_logits, target, mask = _attention_targets(_branch(student, branch, owner), labels, branch)
            teacher_logits, _, _ = _attention_targets(_branch(teacher, branch, owner), labels, branch)
            terms[f"{self.name}_{index}"] = decoupled_kd(student_logits, teacher_logits, target, mask,
                                                         self.temperature, self.alpha, self.beta)
        return _with_total(terms)


def ctc_logits_kl(student: paddle.Tensor, teacher: paddle.Tensor, temperature: float) -> paddle.Tensor:
    """Per-sample KL(teacher ‖ student) of the N×T×C CTC logits' class distributions averaged over time.

    The blank logit (class 0) is negated first, as PaddleOCR does, so the blank that dominates most steps
    does not swamp the averaged distribution; softmax at ``temperature``. The teacher carries no gradient.
    """
    sign = paddle.ones([student.shape[2]], dtype=student.dtype)
    sign[0] = -1.0
    p_student = F.softmax(student * sign / temperature, axis=2).mean(axis=1)
    p_teacher = F.softmax(teacher.detach() * sign / temperature, axis=2).mean(axis=1)
    return kl_rows(p_teacher, p_student)


@LOSSES.register()
class DistillCTCLogits(nn.Layer):
    """The student (first of each pair) matches the teacher's CTC class distribution (:func:`ctc_logits_kl`);
    reads the ``ctc`` branch of MultiHead outputs. ``reduction`` over the batch: mean or sum. Terms
    ``<name>_<pair index>``."""

    def __init__(self, model_name_pairs: list = (), key: Optional[str] = None, name: str = "ctc_logits",
                 reduction: str = "mean", temperature: float = 0.5):
        super().__init__()
        owner = type(self).__name__
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"key 'reduction' of loss {owner} must be mean or sum, got {reduction!r}", "Loss")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ConfigError(f"key 'temperature' of loss {owner} must be a positive number, got {temperature!r}",
                              "Loss")
        self.pairs = _model_pairs(model_name_pairs, owner)
        self.key = key
        self.name = name
        self.reduction = reduction
        self.temperature = float(temperature)

    @staticmethod
    def _logits(output: Any, owner: str) -> paddle.Tensor:
        if isinstance(output, dict):
            output = _branch(output, "ctc", owner)
        if isinstance(output, (list, tuple)):  # a CTC head's (features, logits)
            output = output[-1]
        return output

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        owner = type(self).__name__
        terms = {}
        for index, (student_name, teacher_name) in enumerate(self.pairs):
            student = self._logits(select_output(predicts, student_name, self.key, owner), owner)
            teacher = self._logits(select_output(predicts, teacher_name, self.key, owner), owner)
            per_sample = ctc_logits_kl(student, teacher, self.temperature)
            terms[f"{self.name}_{index}"] = per_sample.mean() if self.reduction == "mean" else per_sample.sum()
        return _with_total(terms)

"""Run by test_paddleocr_configs under ``paddle.distributed.launch``: one training step of a conv + batch norm
with ``use_sync_bn`` on this rank's own data; writes the batch-norm state to ``<out>/rank<N>.npz``."""
import os
import sys

import numpy as np
import paddle

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppocr.engine.train_graph import apply_sync_bn  # noqa: E402


def main(out_dir: str) -> None:
    paddle.distributed.init_parallel_env()
    rank, world = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    model = apply_sync_bn(model, True, world, "cpu")
    data = np.random.default_rng(rank).normal(rank * 3.0, 1.0 + rank, (2, 3, 8, 8)).astype(np.float32)
    out = model(paddle.to_tensor(data))
    (out * out).mean().backward()
    state = {key: value.numpy() for key, value in model.state_dict().items()}
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), data=data, **state)


if __name__ == "__main__":
    main(sys.argv[1])

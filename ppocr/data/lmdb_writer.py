"""Write recognition samples to an LMDB in the layout LMDBDataSet reads (PaddleOCR / TAO layout)."""
from __future__ import annotations

import os
from typing import Iterable, Tuple

import lmdb

from ppocr.utils.io import atomic_dir


def write_lmdb(path: str, samples: Iterable[Tuple[bytes, str]], map_size: int = 1 << 34,
               commit_every: int = 1000) -> int:
    """Write ``(encoded_image_bytes, label)`` pairs as ``image-%09d``/``label-%09d`` (1-based)
    plus ``num-samples``. The directory appears only when complete. Returns the sample count."""
    count = 0
    with atomic_dir(path) as tmp:
        env = lmdb.open(tmp, map_size=map_size, subdir=True)
        try:
            txn = env.begin(write=True)
            for image_bytes, label in samples:
                count += 1
                txn.put(b"image-%09d" % count, bytes(image_bytes))
                txn.put(b"label-%09d" % count, label.encode("utf-8"))
                if count % commit_every == 0:
                    txn.commit()
                    txn = env.begin(write=True)
            txn.put(b"num-samples", str(count).encode())
            txn.commit()
            env.sync()
        finally:
            env.close()
        # lmdb leaves a lock file that is useless to readers opened with lock=False
        lock = os.path.join(tmp, "lock.mdb")
        if os.path.exists(lock):
            os.unlink(lock)
    return count

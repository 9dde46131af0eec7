"""Deterministic seeds: every image, object and attempt gets its own, derived from the run seed.

Seeds depend only on (run seed, what, indices), never on batch size, shard or order of execution, so
batching, resuming and sharding all reproduce the same draws.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any sequence of ints/strings, e.g. ``derive_seed(run_seed, "object", i, j, attempt)``."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def rng_for(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(*parts))

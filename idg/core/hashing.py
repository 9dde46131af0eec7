"""Content hashes: the short key of everything an output depends on (generation fingerprints, training and
evaluation keys, shortcut sets, copy-paste sources, results)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def content_hash(obj: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``obj``: a string as it is, anything else as canonical
    JSON (sorted keys; values JSON cannot hold, e.g. paths, as their ``str``)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_hash(path: str | Path, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file's bytes (read in chunks: LoRAs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]

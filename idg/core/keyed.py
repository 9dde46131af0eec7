"""Keyed outputs: reuse what was made from the same inputs, refuse to silently replace what was not.

Every expensive output of a run (a generation, a training's ``done.json``, an evaluation, a copy-paste set,
the seam-shortcut set and its rates, the results) is stored with a *key*: the content hash of what it
depends on. A rerun asks :func:`reuse_or_refuse` first: the same key means the output is reused; another
key means it was made from other inputs, which is an error naming the file unless ``overwrite=true`` (or,
for outputs derived from others, which may always be remade, ``refuse=False``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from idg.core.errors import RunDirError

log = logging.getLogger(__name__)

ELSEWHERE = "or choose another hydra.run.dir"


def stored(path: str | Path) -> Optional[Dict[str, Any]]:
    """The JSON object stored at ``path``: None when there is no file, ``{}`` when there is one that holds no
    JSON object (a damaged record matches no key)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def reuse_or_refuse(path: str | Path, key: Optional[str], *, overwrite: bool, differs: str,
                    redo: str = "redo it", name: Optional[str | Path] = None, refuse: bool = True,
                    accept: Optional[Callable[[Dict[str, Any]], bool]] = None,
                    field: str = "key") -> Optional[Dict[str, Any]]:
    """What ``path`` stores, when it was made with ``key`` (any key when ``key`` is None, or when ``accept``
    says the stored record will do): the caller reuses it.

    None when the caller must make the output (anew): nothing is stored; or it was made from other inputs
    and may be replaced (``refuse=False``, or ``overwrite``, which is logged). ``field`` is where the record
    keeps its key. Otherwise RunDirError:
    ``<name> <differs>; pass overwrite=true to <redo>, or choose another hydra.run.dir``."""
    previous = stored(path)
    if previous is None:
        return None
    if key is None or previous.get(field) == key or (accept is not None and accept(previous)):
        return previous
    if not refuse:
        return None
    what = name if name is not None else path
    if not overwrite:
        raise RunDirError(f"{what} {differs}; pass overwrite=true to {redo}, {ELSEWHERE}")
    log.warning("overwrite=true: %s %s; making it anew", what, differs)
    return None

"""Which W&B server a run talks to, and whether it answers: a time-boxed probe, so an unreachable server
costs seconds, never a hang."""

from __future__ import annotations

import os
import threading
from typing import List
from urllib.parse import urlparse

DEFAULT_BASE_URL = "https://api.wandb.ai"


def base_url() -> str:
    """The W&B server to use: ``$WANDB_BASE_URL`` as it is now, else ``wandb login --host``'s settings
    file, else W&B's cloud. (wandb itself reads the environment once per process; idg passes this URL to
    ``wandb.init`` so the probe and the run always talk to the same server.)"""
    if os.environ.get("WANDB_BASE_URL"):
        return os.environ["WANDB_BASE_URL"]
    os.environ.setdefault("WANDB_SILENT", "true")
    try:
        from wandb.sdk import wandb_setup  # reads the settings files; starts no service

        return wandb_setup.singleton().settings.base_url or DEFAULT_BASE_URL
    except Exception:  # noqa: BLE001 - an unexpected wandb version: W&B's default server
        return DEFAULT_BASE_URL


def server_reachable(url: str, timeout: float) -> bool:
    """True when the server at ``url`` answers an HTTP request within ``timeout`` seconds (any status,
    even an error page, counts: something answered; ``HTTP(S)_PROXY`` are honoured like W&B does).

    W&B's own client retries a refused connection until its init timeout (30 s measured), so this probe
    decides first. It runs in a daemon thread because name lookup has no timeout of its own."""
    import urllib.error
    import urllib.request

    if urlparse(url).scheme not in ("http", "https"):
        return False
    result: List[bool] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                result.append(True)
        except urllib.error.HTTPError:
            result.append(True)
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=probe, name="idg-wandb-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])

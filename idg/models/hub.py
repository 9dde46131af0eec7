"""The Hugging Face Hub, offline-safe: is a name a local path or a hub id, may this run go online, is the
Hub reachable (a quick probe, never a hang)."""

from __future__ import annotations

import os
from pathlib import Path


def is_local_path(pretrained: str) -> bool:
    """A filesystem path (as opposed to a hub id ``org/name``)."""
    p = os.path.expanduser(pretrained)
    return p.startswith(("/", ".", "~")) or os.path.isabs(p) or Path(p).exists() or pretrained.count("/") != 1


def offline_requested(local_only: bool, offline: bool) -> bool:
    return offline or local_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_host() -> str:
    from urllib.parse import urlparse

    return urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of the Hub, so a machine without network fails in seconds, not after the Hub
    client's retries. Behind a proxy the probe is skipped (the proxy decides)."""
    import socket

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        with socket.create_connection((hub_host(), 443), timeout=timeout):
            return True
    except OSError:
        return False


def local_files_only(pretrained: str, local_only: bool, offline: bool) -> bool:
    """Load from the local cache only: when asked to, or when the Hub cannot be reached anyway."""
    if offline_requested(local_only, offline) or is_local_path(pretrained):
        return True
    return not hub_reachable()

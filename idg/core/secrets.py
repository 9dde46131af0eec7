"""Keep secrets (W&B API keys, Hugging Face tokens) out of everything a run writes.

Secrets belong in the environment (``WANDB_API_KEY``, ``HF_TOKEN``), where wandb and huggingface_hub read
them; idg never needs them in its config. Three lines of defence:

- :func:`secret_override` refuses a command-line override that looks like a secret (a key named like one,
  a value shaped like a token, or the value of a secret environment variable), with an error that says
  to use the environment variable instead;
- :func:`redact` replaces secret-looking keys and values in a config before config.yaml, run.json or the
  W&B config are written;
- :func:`scrub_hydra_dir` redacts the files Hydra writes itself (``.hydra/*.yaml``, ``multirun.yaml``)
  before idg checks anything, since Hydra writes them before idg's code runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, List, Optional

REDACTED = "***"
SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.IGNORECASE)
# Hugging Face tokens, W&B local-server keys, and 40-hex W&B cloud keys (a 40-hex git revision is not a
# secret: keys named ``revision`` keep theirs).
SECRET_VALUE = re.compile(r"^(hf_[A-Za-z0-9]{20,}|[0-9a-f]{40}|local-[0-9a-f]{40,})$")
TOKEN_IN_TEXT = re.compile(r"\b(hf_[A-Za-z0-9]{20,}|local-[0-9a-f]{40,})\b")
KEY_VALUE_IN_TEXT = re.compile(
    r"(?P<key>[\w.+~/-]*(?:api[_-]?key|secret|password|passwd|credential|token)(?![a-z])[\w.-]*)"
    r"(?P<sep>\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s,'\"\]}]+)",
    re.IGNORECASE,
)
NOT_SECRET_KEYS = ("revision",)
ENV_HINT = ("pass secrets as environment variables (WANDB_API_KEY for W&B, HF_TOKEN for the Hugging Face Hub), "
            "never as overrides")


def secret_env_values() -> List[str]:
    """Values of environment variables named like secrets (``WANDB_API_KEY``, ``HF_TOKEN``, ...)."""
    return sorted({v for k, v in os.environ.items() if SECRET_KEY.search(k) and len(v) >= 8}, key=len, reverse=True)


def _secret_value(value: str, key: str = "") -> bool:
    if key.rsplit(".", 1)[-1] in NOT_SECRET_KEYS:
        return value in secret_env_values()
    return bool(SECRET_VALUE.match(value)) or value in secret_env_values()


def redact(obj: Any, key: str = "") -> Any:
    """A copy of a config with secret-looking keys and values (W&B keys, HF tokens) replaced."""
    if isinstance(obj, dict):
        return {k: (REDACTED if SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v, str(k)))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v, key) for v in obj]
    if isinstance(obj, str):
        return REDACTED if _secret_value(obj, key) else redact_text(obj)
    return obj


def redact_text(text: str) -> str:
    """``text`` with token-shaped strings, the values of secret environment variables and the values of
    ``key=value`` / ``key: value`` pairs whose key names a secret replaced."""
    for value in secret_env_values():
        text = text.replace(value, REDACTED)
    text = TOKEN_IN_TEXT.sub(REDACTED, text)

    def sub(m: re.Match) -> str:
        if m.group("value") in ("null", "None", "~", REDACTED):
            return m.group(0)
        return f"{m.group('key')}{m.group('sep')}{m.group('quote')}{REDACTED}"

    return KEY_VALUE_IN_TEXT.sub(sub, text)


def secret_override(overrides: Iterable[str]) -> Optional[str]:
    """An error message for the first override that looks like a secret, else None."""
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        value = value.strip().strip("'\"")
        if not sep:
            continue
        if SECRET_KEY.search(key.rsplit(".", 1)[-1]) and value not in ("", "null"):
            return f"the override {key}=... names a secret; {ENV_HINT}"
        if value and (TOKEN_IN_TEXT.search(value) or any(s in value for s in secret_env_values())):
            return f"the value of the override {key}=... looks like an API key or token; {ENV_HINT}"
    return None


def scrub_file(path: Path) -> bool:
    """Redact ``path`` in place (a Hydra YAML file); True when something was replaced."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    clean = redact_text(text)
    if clean == text:
        return False
    from idg.core.atomic import atomic_write_text

    atomic_write_text(path, clean)
    return True


def scrub_hydra_dir(*dirs: Optional[Path]) -> int:
    """Redact the YAML files Hydra wrote into these dirs (``.hydra/`` of a job, a sweep's
    ``multirun.yaml``); returns how many files changed."""
    changed = 0
    for d in dirs:
        if d is None or not Path(d).is_dir():
            continue
        for path in sorted(Path(d).glob("*.yaml")):
            changed += scrub_file(path)
    return changed

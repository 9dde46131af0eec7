"""Schedulers and LoRAs: what a run changes about a loaded pipeline, checked before any weights load.

``model.scheduler=<diffusers scheduler class>`` (+ ``model.scheduler_args``) replaces the checkpoint's
scheduler with one made ``from_config`` of it (so its betas and timestep spacing carry over); the name must be
a diffusers scheduler compatible with the checkpoint's own (flow-matching FLUX takes flow-matching ones).

``model.loras=[{path, scale}]`` loads each safetensors file with ``load_lora_weights`` and weights them with
``set_adapters``. Before any model loads, each file's header (its keys and shapes, not its tensors) is read
to tell which denoiser it adapts (a UNet for SD/SDXL, a transformer for FLUX) and the width of its
cross-attention, so a LoRA for another family is refused with the file and key named. Each LoRA's content
hash goes into cache keys and fingerprints.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set

from idg.core.config import LoraConfig
from idg.core.errors import ConfigError
from idg.core.hashing import file_hash

# ------------------------------------------------------------------------------------ schedulers


def scheduler_names() -> List[str]:
    import diffusers

    return sorted(n for n in dir(diffusers) if n.endswith("Scheduler") and n != "SchedulerMixin")


def _scheduler_class(node: str, name: str):
    """The diffusers class ``name``; a scheduler whose extra dependency is missing is a ConfigError."""
    import diffusers

    try:
        return getattr(diffusers, name)
    except ImportError as exc:
        raise ConfigError(f"{node}.scheduler={name}: {' '.join(str(exc).split())}") from None


def compatible_schedulers(current: str) -> List[str]:
    """Schedulers that can stand in for ``current``: its ``_compatibles``, and for flow-matching schedulers
    (which list none) the other flow-matching ones that take the ``sigmas`` and ``mu`` FLUX passes."""
    import diffusers

    if current not in scheduler_names():
        return []
    cls = getattr(diffusers, current)
    names = set(getattr(cls, "_compatibles", []) or []) | {current}
    if current.startswith("FlowMatch"):
        for name in (n for n in scheduler_names() if n.startswith("FlowMatch")):
            params = inspect.signature(_scheduler_class("model.scheduler", name).set_timesteps).parameters
            if {"sigmas", "mu"} <= set(params):
                names.add(name)
    known = set(scheduler_names())
    return sorted(n for n in names if n in known)


def check_scheduler(node: str, name: Optional[str], args: Dict[str, Any], current: Optional[str]) -> None:
    """``name`` is a diffusers scheduler, fits the checkpoint's ``current`` one, and takes ``args``."""
    if name is None:
        return
    fitting = compatible_schedulers(current) if current else []
    if name not in scheduler_names():
        choices = fitting or scheduler_names()
        raise ConfigError(f"{node}.scheduler={name!r} is not a diffusers scheduler; "
                          f"{'compatible with this checkpoint' if fitting else 'choose one of'}: {', '.join(choices)}")
    if current and name not in fitting:
        raise ConfigError(f"{node}.scheduler={name} does not fit this checkpoint's {current}; compatible: "
                          f"{', '.join(fitting)}")
    params = inspect.signature(_scheduler_class(node, name).__init__).parameters
    unknown = sorted(k for k in args if k not in params)
    if unknown:
        accepted = [p for p in params if p not in ("self", "kwargs")]
        raise ConfigError(f"{node}.scheduler_args: {name} takes no {', '.join(unknown)}; it takes {', '.join(accepted)}")


def make_scheduler(base, name: str, args: Dict[str, Any]):
    """Scheduler ``name`` made from ``base``'s config (its betas, timestep spacing...), with ``args`` on top."""
    import diffusers

    return getattr(diffusers, name).from_config(base.config, **dict(args))


def apply_scheduler(pipe, name: Optional[str], args: Dict[str, Any]) -> None:
    if name is not None:
        pipe.scheduler = make_scheduler(pipe.scheduler, name, args)


# ------------------------------------------------------------------------------------ LoRAs


def lora_file(node: str, index: int, lora: LoraConfig) -> Path:
    """The LoRA's safetensors file: ``path`` itself, or the one (``pytorch_lora_weights.safetensors`` first) in
    the folder ``path``."""
    where = f"{node}.loras[{index}].path={lora.path}"
    path = Path(os.path.expanduser(lora.path))
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        named = [f for f in files if f.name == "pytorch_lora_weights.safetensors"]
        if named or len(files) == 1:
            return (named or files)[0]
        raise ConfigError(f"{where}: {'no' if not files else 'more than one'} .safetensors file in this folder; "
                          "name the file")
    if not path.is_file():
        hint = " (a hub id? download it first: huggingface-cli download <repo> --local-dir <dir>)" \
            if lora.path.count("/") == 1 and not lora.path.startswith((".", "/", "~")) else ""
        raise ConfigError(f"{where}: no such file{hint}")
    if path.suffix != ".safetensors":
        raise ConfigError(f"{where}: LoRAs load from .safetensors files only (pickled weights can run code)")
    return path


def read_header(path: Path) -> Dict[str, Dict[str, Any]]:
    """The tensor table of a safetensors file (name -> dtype, shape), read without loading any tensor."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("too short")
        (size,) = struct.unpack("<Q", raw)
        if size > 100_000_000:
            raise ValueError("header too large")
        header = json.loads(fh.read(size))
    return {k: v for k, v in header.items() if k != "__metadata__"}


_TRANSFORMER = re.compile(r"^(transformer\.|lora_transformer_|lora_unet_(double|single)_blocks|"
                          r"(diffusion_model\.)?(double|single)_(transformer_)?blocks)")
_UNET = re.compile(r"^(unet\.|lora_unet_|(diffusion_model\.)?(input_blocks|middle_block|output_blocks|down_blocks|"
                   r"up_blocks|mid_block))")
_TEXT = re.compile(r"^(text_encoder|lora_te)")
# The down/A matrix of a cross-attention key projection: its input width is the text embedding width.
_CROSS_K = re.compile(r"attn2[._]to_k.*(lora[._]down|lora_A)")
_ATTN_Q = re.compile(r"attn[._]to_q.*(lora[._]down|lora_A)")


def lora_targets(keys: Sequence[str]) -> Set[str]:
    """Which parts a LoRA adapts: ``transformer``, ``unet``, ``text_encoder`` (from its key names)."""
    out = set()
    for k in keys:
        if _TRANSFORMER.match(k):
            out.add("transformer")
        elif _UNET.match(k):
            out.add("unet")
        elif _TEXT.match(k):
            out.add("text_encoder")
    return out


def _widths(config: Any) -> Set[int]:
    return set(config) if isinstance(config, (list, tuple)) else {int(config)}


def check_lora(node: str, index: int, lora: LoraConfig, family, denoiser_config: Optional[dict]) -> None:
    """Refuse a LoRA that cannot apply to this family's denoiser (read from the file's header)."""
    path = lora_file(node, index, lora)
    where = f"{node}.loras[{index}].path={lora.path}"
    try:
        header = read_header(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: not a readable safetensors file ({exc})") from None
    targets = lora_targets(list(header))
    if not targets:
        raise ConfigError(f"{where}: holds no UNet, transformer or text-encoder LoRA weights diffusers recognises "
                          f"(first keys: {', '.join(list(header)[:3])})")
    other = {"unet", "transformer"} - {family.lora_target}
    if targets & other:
        raise ConfigError(f"{where} is a LoRA for a {next(iter(targets & other))} model, but {node} is "
                          f"{family.title} (a {family.lora_target}): use a LoRA made for {family.name}")
    if not denoiser_config:
        return
    if family.lora_target == "unet" and denoiser_config.get("cross_attention_dim") is not None:
        want = _widths(denoiser_config["cross_attention_dim"])
        for key, info in header.items():
            if _CROSS_K.search(key) and len(info.get("shape", [])) >= 2 and info["shape"][1] not in want:
                raise ConfigError(f"{where}: its cross-attention takes {info['shape'][1]}-wide text embeddings ({key}) "
                                  f"but this {family.title} UNet's are {sorted(want)}: a LoRA for another model family")
    if family.lora_target == "transformer":
        inner = denoiser_config.get("num_attention_heads", 0) * denoiser_config.get("attention_head_dim", 0)
        for key, info in header.items():
            if inner and _ATTN_Q.search(key) and len(info.get("shape", [])) >= 2 and info["shape"][1] != inner:
                raise ConfigError(f"{where}: adapts {info['shape'][1]}-wide attention ({key}) but this transformer's "
                                  f"is {inner} wide: a LoRA for another model")


def load_loras(pipe, node: str, loras: Sequence[LoraConfig]) -> None:
    """``load_lora_weights`` each file as adapter ``<node>_<i>``, then ``set_adapters`` with their scales."""
    if not loras:
        return
    names = []
    for i, lora in enumerate(loras):
        path = lora_file(node, i, lora)
        name = f"{node}_{i}"
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
        names.append(name)
    pipe.set_adapters(names, adapter_weights=[float(lo.scale) for lo in loras])


def lora_identity(node: str, loras: Sequence[LoraConfig]) -> List[Dict[str, Any]]:
    """Each LoRA's content hash and scale: what its pixels depend on (the path does not matter)."""
    return [{"sha256": file_hash(lora_file(node, i, lo)), "scale": float(lo.scale)} for i, lo in enumerate(loras)]

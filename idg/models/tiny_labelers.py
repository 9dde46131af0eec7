"""Tiny, randomly initialised open-vocabulary labellers for offline tests and CPU smoke runs.

``build_tiny_owlv2`` and ``build_tiny_grounding_dino`` make the same classes as the real checkpoints
(``Owlv2ForObjectDetection`` + ``Owlv2Processor``; ``GroundingDinoForObjectDetection`` with Swin and BERT
backbones + ``GroundingDinoProcessor``) at a very small size, with tokenizers built locally (no Hub), and
``save_pretrained`` them, so they load through the same ``AutoModelForZeroShotObjectDetection`` /
``AutoProcessor`` path as the real models. Their heads are rescaled so that boxes spread over the image and
scores over (0, 1) instead of saturating: their boxes are arbitrary, but thresholds and NMS have something to
decide. They exercise the code, not the labels.
"""

from __future__ import annotations

import logging
import os
import string
from pathlib import Path
from typing import Callable, Dict

from idg.models.tiny import save_dir_atomically

log = logging.getLogger(__name__)

# Bump when an architecture below changes, so caches keyed on the path are not mixed up.
TINY_LABELER_VERSION = "v1"
TINY_LABELER_SIDE = 128  # the side the tiny processors resize images to

# Grounding DINO finds phrase boundaries by these BERT ids ([CLS], [SEP], ".", "?"; transformers'
# SPECIAL_TOKENS), so a local vocabulary must put them there.
BERT_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}


def _bert_tokenizer():
    """A character-level WordPiece vocabulary (every lower-case word tokenises, none needs the Hub), with the
    special tokens at BERT's ids."""
    from transformers import BertTokenizer

    vocab: Dict[str, int] = dict(BERT_SPECIAL)
    taken = set(vocab.values())
    free = (i for i in range(1, 10_000) if i not in taken)
    symbols = string.ascii_lowercase + string.digits + "".join(c for c in string.punctuation if c not in ".?")
    for ch in symbols:
        vocab[ch] = next(free)
    for ch in string.ascii_lowercase + string.digits:
        vocab["##" + ch] = next(free)
    size = max(vocab.values()) + 1
    used = set(vocab.values())
    vocab.update({f"[unused{i}]": i for i in range(size) if i not in used})
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    return BertTokenizer(vocab=vocab, model_max_length=128), vocab


def _save(path: Path, model, processor) -> Path:
    """``save_pretrained`` model and processor into ``path`` atomically (a temp dir, then rename)."""

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)

    return save_dir_atomically(path, write, "config.json")


def build_tiny_owlv2(path: str | os.PathLike, seed: int = 0) -> Path:
    """A tiny random OWLv2 (8 x 8 patches of 16 px at 128 px) with a byte-level CLIP tokenizer."""
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    from idg.models.tiny import _tokenizer

    torch.manual_seed(seed)
    tokenizer, vocab = _tokenizer()
    tokenizer.model_max_length = 16  # OWLv2's text length (its position embeddings)
    config = Owlv2Config(
        text_config={
            "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
            "num_hidden_layers": 2, "max_position_embeddings": 16, "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                       "image_size": TINY_LABELER_SIDE, "patch_size": 16},
        projection_dim=32,
    )
    model = Owlv2ForObjectDetection(config)
    with torch.no_grad():
        # Boxes near their patch's grid cell with some size spread; scores spread over (0, 1).
        for layer in (model.box_head.dense0, model.box_head.dense1):
            layer.weight.normal_(0.0, 32 ** -0.5)
            layer.bias.zero_()
        model.box_head.dense2.weight.normal_(0.0, 0.6 * 32 ** -0.5)
        model.box_head.dense2.bias.zero_()
        model.class_head.logit_shift.weight.normal_(0.0, 0.02)
        model.class_head.logit_shift.bias.zero_()
        model.class_head.logit_scale.weight.normal_(0.0, 0.02)
        model.class_head.logit_scale.bias.fill_(2.0)  # elu(2) + 1: cosine similarities x 3
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": TINY_LABELER_SIDE,
                                                                          "width": TINY_LABELER_SIDE}),
                               tokenizer=tokenizer)
    _save(Path(path), model, processor)
    log.info("built tiny random OWLv2 at %s", path)
    return Path(path)


def build_tiny_grounding_dino(path: str | os.PathLike, seed: int = 0) -> Path:
    """A tiny random Grounding DINO: a 4-stage Swin of width 16, a 1-layer BERT of width 32, 32 queries."""
    import torch
    from transformers import GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoProcessor
    from transformers.models.grounding_dino.image_processing_grounding_dino import GroundingDinoImageProcessor

    torch.manual_seed(seed)
    tokenizer, vocab = _bert_tokenizer()
    config = GroundingDinoConfig(
        backbone_config={"model_type": "swin", "embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 2, 4],
                         "window_size": 4, "image_size": TINY_LABELER_SIDE, "patch_size": 4, "out_indices": [2, 3, 4]},
        text_config={"model_type": "bert", "vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 37, "max_position_embeddings": 128},
        num_queries=32, encoder_layers=1, decoder_layers=2,  # the box heads are tied across >= 2 decoder layers
        encoder_ffn_dim=32, decoder_ffn_dim=32, d_model=32, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_n_points=2, decoder_n_points=2, num_feature_levels=4, max_text_len=128,
    )
    model = GroundingDinoForObjectDetection(config)
    with torch.no_grad():
        # Class logits are dot products of 32-d layer-normed features (std ~6): scale the decoder's side down
        # so scores spread over (0, 1) instead of saturating at 0 or 1.
        model.model.decoder.layer_norm.weight.mul_(0.15)
        model.model.decoder.layer_norm.bias.mul_(0.15)
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": TINY_LABELER_SIDE,
                                                          "longest_edge": TINY_LABELER_SIDE}),
        tokenizer=tokenizer,
    )
    _save(Path(path), model, processor)
    log.info("built tiny random Grounding DINO at %s", path)
    return Path(path)


BUILDERS: Dict[str, Callable[..., Path]] = {"owlv2": build_tiny_owlv2, "grounding_dino": build_tiny_grounding_dino}


def ensure_tiny_labeler(kind: str, path: str | os.PathLike) -> Path:
    """Build the tiny ``kind`` labeller at ``path`` unless a complete one is already there."""
    path = Path(path)
    if not (path / "config.json").is_file():
        BUILDERS[kind](path)
    return path

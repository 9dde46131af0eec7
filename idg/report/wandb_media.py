"""What W&B shows, as plain data (no W&B calls here): the run config and name, box overlays of manifest
records, the rows of the objects table, thumbnails, artifact names, where a record's background is cached."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

THUMBNAIL = 96  # px, longer side of an object's crop in the objects table


def wandb_config(config: Dict[str, Any], sweep: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The W&B run config: the resolved config with secrets redacted (as in config.yaml), plus ``sweep``
    (group, swept keys and this job's values) for a --multirun job."""
    from idg.core.secrets import redact

    return {**redact(config), **({"sweep": redact(sweep)} if sweep else {})}


def run_name(dataset: str, run_dir: Path, sweep: Optional[Dict[str, Any]] = None) -> str:
    """``<dataset>-<run dir name>``, plus a sweep job's swept values (``forest_fire-0-strength=0.5``)."""
    from idg.core.overrides import label

    values = (sweep or {}).get("values")
    return f"{dataset}-{Path(run_dir).name}" + (f"-{label(values)}" if values else "")


def artifact_name(text: str) -> str:
    """A W&B artifact name (letters, digits, ``-``, ``_``, ``.``) from free text."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "idg"


def _position(box: Sequence[float], width: float, height: float, x_offset: float = 0.0, total_width: Optional[float] = None) -> dict:
    x, y, w, h = box
    tw = total_width or width
    return {"minX": (x_offset + x) / tw, "maxX": (x_offset + x + w) / tw, "minY": y / height, "maxY": (y + h) / height}


def box_sets(rec: dict, names: Sequence[str], x_offset: float = 0.0, total_width: Optional[float] = None) -> Dict[str, dict]:
    """W&B box overlays of one manifest record: ``labels`` (objects that became labels) and, when the
    quality stage recorded any, ``rejected``. Rejected boxes use class ids shifted by the number of classes,
    so W&B draws them in other colours (and either set can be toggled in the UI)."""
    W, H = rec["width"], rec["height"]
    nc = len(names)
    labels = [
        {"position": _position(obj["box"], W, H, x_offset, total_width), "class_id": int(obj["class_id"]),
         "box_caption": obj.get("class", names[obj["class_id"]])}
        for obj in rec.get("objects", [])
    ]
    out = {"labels": {"box_data": labels, "class_labels": {i: n for i, n in enumerate(names)}}}
    rejected = []
    for obj in rec.get("rejected") or []:
        box = obj.get("box") or obj.get("requested_box")
        if box is None:
            continue
        reason = obj.get("reject_reason")
        rejected.append({
            "position": _position(box, W, H, x_offset, total_width),
            "class_id": nc + int(obj["class_id"]),
            "box_caption": f"rejected {obj.get('class', names[obj['class_id']])}" + (f": {reason}" if reason else ""),
        })
    if rejected:
        out["rejected"] = {"box_data": rejected, "class_labels": {nc + i: f"rejected {n}" for i, n in enumerate(names)}}
    return out


OBJECT_COLUMNS = [
    "image", "index", "split", "object", "crop", "class", "prompt", "status", "reject_reason",
    "x", "y", "w", "h", "requested_box", "box_iou", "attempts", "seam_edge", "seam_halo", "changed_fraction",
    "verify_score", "seed", "strength", "steps", "guidance", "mask", "feather", "blend", "mode", "sampler",
    "labeler_score", "labeler_query",
]


def object_rows(records: Sequence[dict], limit: int) -> List[dict]:
    """One row per generated object (accepted, and rejected where the quality stage recorded them) for the
    W&B objects table, without the crop image (``crop`` holds what to cut it from).

    Beyond ``limit`` rows, rejected objects are kept first (failures are what users filter for), then
    accepted ones in image order. Quality fields are optional in the manifest and are None when absent."""
    rows = []
    for rec in records:
        for status, objs in (("accepted", rec.get("objects") or []), ("rejected", rec.get("rejected") or [])):
            for obj in objs:
                box = obj.get("box") or obj.get("requested_box") or [None] * 4
                rows.append({
                    "image": rec["image"],
                    "index": rec["index"],
                    "split": rec.get("split"),
                    "object": obj.get("id"),
                    # accepted: cut from the final image; rejected: the quality stage's crop file, if any
                    "crop": ("image", rec["image"], box) if status == "accepted" else ("file", obj.get("crop"), None),
                    "class": obj.get("class"),
                    "prompt": obj.get("prompt"),
                    "status": obj.get("status", status),
                    "reject_reason": obj.get("reject_reason"),
                    "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                    "requested_box": ",".join(str(v) for v in obj["requested_box"]) if obj.get("requested_box") else None,
                    # 64-bit seeds lose digits as JSON numbers in the browser
                    "seed": str(obj["seed"]) if obj.get("seed") is not None else None,
                    **{k: obj.get(k) for k in ("box_iou", "attempts", "seam_edge", "seam_halo", "changed_fraction", "verify_score",
                                               "strength", "steps", "guidance", "mask", "feather", "blend",
                                               "mode", "sampler", "labeler_score", "labeler_query")},
                })
    if len(rows) > limit:
        rejected = [r for r in rows if r["status"] != "accepted"][:limit]
        accepted = [r for r in rows if r["status"] == "accepted"][: limit - len(rejected)]
        kept = {id(r) for r in rejected + accepted}
        rows = [r for r in rows if id(r) in kept]
    return rows


def crop_thumbnail(image, box: Sequence[float], size: int = THUMBNAIL, pad: float = 0.25):
    """The box of a PIL image with ``pad`` of its longer side around it, shrunk to at most ``size`` px."""
    x, y, w, h = box
    m = pad * max(w, h)
    left, top = max(0, int(x - m)), max(0, int(y - m))
    right, bottom = min(image.width, int(x + w + m)), min(image.height, int(y + h + m))
    crop = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    crop.thumbnail((size, size))
    return crop


def read_generation(root: Path) -> Dict[str, Any]:
    """An export's generation.json (fingerprint, status, stats); empty when absent or unreadable."""
    import json

    try:
        return json.loads((Path(root) / "generation.json").read_text())
    except (OSError, ValueError):
        return {}


def background_path(cache_dir: Optional[str | Path], rec: dict) -> Optional[Path]:
    """Where the background cache keeps this record's background (None when the manifest has no key)."""
    from idg.generate.cache import BackgroundCache

    key = (rec.get("background") or {}).get("key")
    if not key or not cache_dir:
        return None
    return BackgroundCache(cache_dir).path(key)

"""What a generation stage made, in numbers: the stats of its sets summed, the metrics.json keys of one
generator's sets (``generate/...`` and the quality KPIs ``quality/...``, prefixed by the generator in a study
comparing generators), and the one-line summary the console prints."""

from __future__ import annotations

from typing import Any, Dict


def summed_stats(results: list) -> Dict[str, Any]:
    """The generation stats of ``results`` (GenerationResults), summed over the sets."""
    total: Dict[str, Any] = {}
    for r in results:
        for k, v in r.stats.as_dict().items():
            total[k] = total.get(k, 0) + v
    return total


def generation_summary(by_generator: Dict[str, list]) -> str:
    """``8 images (2 done earlier), 10 objects (1 rejected), 0.66 img/s; backgrounds: 8 generated, 0 from cache``."""
    sets = [r for results in by_generator.values() for r in results]
    total = summed_stats(sets)
    text = f"{total['images']} images"
    if total["images_skipped"]:
        text += f" ({total['images_skipped']} done earlier)"
    text += f", {total['objects']} objects"
    if total["objects_rejected"]:
        text += f" ({total['objects_rejected']} rejected)"
    if total["seconds"] > 0 and total["images"]:
        text += f", {total['images'] / total['seconds']:.2f} img/s"
    if len(sets) > 1:
        text += f", {len(sets)} sets"
    if len(by_generator) > 1:
        text += f" of {len(by_generator)} generators"
    return text + f"; backgrounds: {total['backgrounds_generated']} generated, {total['backgrounds_from_cache']} from cache"


def generation_metrics(results: list, prefix: str = "") -> Dict[str, Any]:
    """Generation stats (summed over the sets) and quality KPIs of one generator's sets, keys
    ``generate/<prefix>...`` and ``quality/<prefix>...``."""
    from idg.generate.quality import quality_metrics

    stats = summed_stats(results)
    stats["images_per_second"] = round(stats["images"] / stats["seconds"], 4) if stats["seconds"] > 0 else 0.0
    records = [rec for r in results for rec in r.records]
    metrics = {f"generate/{prefix}{k}": v for k, v in stats.items()}
    metrics[f"generate/{prefix}total_images"] = len(records)
    metrics[f"generate/{prefix}total_objects"] = sum(len(rec["objects"]) for rec in records)
    metrics.update({k.replace("quality/", f"quality/{prefix}", 1): v for k, v in quality_metrics(records).items()})
    return metrics

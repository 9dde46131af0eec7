"""The prototype's CSV inputs (``backgrounds.csv``, ``classes.csv``) as ``background`` and ``classes`` config
values, read at start-up so their errors name the file and line before any model loads."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Dict, List

from idg.core.errors import DataError

BACKGROUND_COLUMNS = ("prompt", "num_imgs")
CLASS_COLUMNS = (
    "prompt",
    "min_appear",
    "max_appear",
    "aspect_ratio_min",
    "aspect_ratio_max",
    "width_min",
    "width_max",
    "height_min",
    "height_max",
)


def _read_csv(path: str, columns: tuple[str, ...], key: str) -> List[Dict[str, str]]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{key}={path}: file not found")
    with file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{key}={path}: missing column(s) {', '.join(missing)} (has: {', '.join(header) or 'none'})")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    rows = [r for r in rows if any(r.values())]
    if not rows:
        raise DataError(f"{key}={path}: no data rows")
    return rows


def _number(value: str, path: str, line: int, column: str, kind: type = float) -> Any:
    try:
        number = float(value)
        if kind is int:
            if number != int(number):
                raise ValueError
            return int(number)
        return number
    except ValueError:
        raise DataError(f"{path}, line {line}: column {column}={value!r} is not a{'n integer' if kind is int else ' number'}") from None


def class_name_from_prompt(prompt: str) -> str:
    """``"a forest fire"`` -> ``"forest_fire"``: the prototype named classes by their prompt."""
    text = re.sub(r"^(a|an|the)\s+", "", prompt.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "object"


def read_backgrounds_csv(path: str) -> List[Dict[str, Any]]:
    """The prototype's ``backgrounds.csv`` (``prompt,num_imgs``) as ``background.prompts`` entries."""
    rows = _read_csv(path, BACKGROUND_COLUMNS, "dataset.backgrounds_csv")
    return [
        {"prompt": r["prompt"], "num_images": _number(r["num_imgs"], path, i + 2, "num_imgs", int)}
        for i, r in enumerate(rows)
    ]


def read_classes_csv(path: str) -> Dict[str, Dict[str, Any]]:
    """The prototype's ``classes.csv`` as a ``classes`` dict.

    Class names come from an optional ``name`` column, else from the prompt. Sizes are pixels at
    ``dataset.ref_resolution``, or fractions of the image when every size in the file is <= 1.
    """
    rows = _read_csv(path, CLASS_COLUMNS, "dataset.classes_csv")
    classes: Dict[str, Dict[str, Any]] = {}
    parsed = []
    for i, r in enumerate(rows):
        line = i + 2
        num = {c: _number(r[c], path, line, c) for c in CLASS_COLUMNS[3:]}
        counts = [_number(r["min_appear"], path, line, "min_appear", int), _number(r["max_appear"], path, line, "max_appear", int)]
        name = r.get("name") or class_name_from_prompt(r["prompt"])
        if name in classes or any(p[0] == name for p in parsed):
            raise DataError(f"{path}, line {line}: class {name!r} appears twice")
        parsed.append((name, r["prompt"], counts, num))
    sizes = [v for _, _, _, num in parsed for k, v in num.items() if k.startswith(("width", "height"))]
    unit = "fraction" if max(sizes) <= 1.0 else "px"
    for name, prompt, counts, num in parsed:
        classes[name] = {
            "prompt": prompt,
            "count": counts,
            "aspect_ratio": [num["aspect_ratio_min"], num["aspect_ratio_max"]],
            "width": [num["width_min"], num["width_max"]],
            "height": [num["height_min"], num["height_max"]],
            "size_unit": unit,
        }
    return classes


def apply_csv_dataset(container: Dict[str, Any]) -> None:
    """Replace ``background``/``classes`` in a plain config dict by the CSVs that ``dataset`` names, if any."""
    dataset = container.get("dataset") or {}
    if dataset.get("backgrounds_csv"):
        container["background"] = {
            **(container.get("background") or {}),
            "name": Path(dataset["backgrounds_csv"]).stem,
            "prompts": read_backgrounds_csv(dataset["backgrounds_csv"]),
        }
    if dataset.get("classes_csv"):
        container["classes"] = read_classes_csv(dataset["classes_csv"])

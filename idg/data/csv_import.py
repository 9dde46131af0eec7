"""The prototype's CSV inputs (``backgrounds.csv``, ``classes.csv``) as ``background`` and ``classes`` config
values, read at start-up so their errors name the file and line before any model loads.

Files must be UTF-8 (a BOM is fine): anything else is an error naming the file and line, not a guess at
the encoding. Every number must be finite (``nan`` and ``inf`` parse as floats but are never a size or a
count). Sizes are all pixels or all fractions of the image; a file that mixes them is refused, since a
fraction read as pixels is a 1 px box.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

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


def _read_csv(path: str, columns: tuple[str, ...], key: str) -> List[Tuple[int, Dict[str, str]]]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{key}={path}: file not found")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DataError(f"{key}={path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{key}={path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file "
                        "as UTF-8") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{key}={path}: missing column(s) {', '.join(missing)} (has: {', '.join(header) or 'none'})")
        rows = []
        for row in reader:  # with the file line each row ends on, for messages
            rows.append((reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}))
    except csv.Error as exc:
        raise DataError(f"{key}={path}, line {reader.line_num}: not a valid CSV file ({exc})") from None
    rows = [(line, r) for line, r in rows if any(r.values())]
    if not rows:
        raise DataError(f"{key}={path}: no data rows")
    return rows


def _number(value: str, path: str, line: int, column: str, kind: type = float, key: str = "dataset.classes_csv") -> Any:
    where = f"{key}={path}, line {line}: column {column}={value!r}"
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"{where} is not a{'n integer' if kind is int else ' number'}") from None
    if not math.isfinite(number):
        raise DataError(f"{where} is not a finite number")
    if kind is int:
        if number != int(number):
            raise DataError(f"{where} is not an integer")
        return int(number)
    return number


def class_name_from_prompt(prompt: str) -> str:
    """``"a forest fire"`` -> ``"forest_fire"``: the prototype named classes by their prompt."""
    text = re.sub(r"^(a|an|the)\s+", "", prompt.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "object"


def read_backgrounds_csv(path: str) -> List[Dict[str, Any]]:
    """The prototype's ``backgrounds.csv`` (``prompt,num_imgs``) as ``background.prompts`` entries."""
    rows = _read_csv(path, BACKGROUND_COLUMNS, "dataset.backgrounds_csv")
    return [
        {"prompt": r["prompt"], "num_images": _number(r["num_imgs"], path, line, "num_imgs", int, "dataset.backgrounds_csv")}
        for line, r in rows
    ]


def read_classes_csv(path: str) -> Dict[str, Dict[str, Any]]:
    """The prototype's ``classes.csv`` as a ``classes`` dict.

    Class names come from an optional ``name`` column, else from the prompt. Sizes are pixels at
    ``dataset.ref_resolution``, or fractions of the image when every size in the file is <= 1; a file with
    sizes below 1 and above 1 is refused (a fraction among pixel sizes would become a 1 px box).
    """
    rows = _read_csv(path, CLASS_COLUMNS, "dataset.classes_csv")
    classes: Dict[str, Dict[str, Any]] = {}
    parsed = []
    for line, r in rows:
        num = {c: _number(r[c], path, line, c) for c in CLASS_COLUMNS[3:]}
        counts = [_number(r["min_appear"], path, line, "min_appear", int), _number(r["max_appear"], path, line, "max_appear", int)]
        name = r.get("name") or class_name_from_prompt(r["prompt"])
        if name in classes or any(p[0] == name for p in parsed):
            raise DataError(f"dataset.classes_csv={path}, line {line}: class {name!r} appears twice")
        parsed.append((name, r["prompt"], counts, num, line))
    sizes = [(v, line, k) for (_, _, _, num, line) in parsed for k, v in num.items() if k.startswith(("width", "height"))]
    unit = "fraction" if max(v for v, _, _ in sizes) <= 1.0 else "px"
    if unit == "px":
        small = [s for s in sizes if 0.0 < s[0] < 1.0]
        if small:
            big = max(sizes)
            v, line, k = small[0]
            raise DataError(
                f"dataset.classes_csv={path}, line {line}: {k}={v:g} is a fraction of the image but line {big[1]} gives "
                f"pixels ({big[2]}={big[0]:g}); give every size in one unit: all fractions (<= 1) or all pixels at "
                "dataset.ref_resolution"
            )
    for name, prompt, counts, num, _ in parsed:
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

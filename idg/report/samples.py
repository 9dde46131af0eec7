"""The sample grid (``samples.png``): generated images with their boxes, as a person checks a synthetic set.

Each cell is one image: every labelled object's box in its class colour with a legible label (filled in
that colour, black or white text, whichever contrasts, sized to the cell), objects the quality stage
rejected as dashed boxes labelled ``rejected: <class>``, and a caption: the image id and split, objects
drawn / rejected, and the background's source (its prompt, or the artifact it kept). The grid is filled
(no empty cells: it shows the largest full rectangle of the first images) and ends in a legend.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

from idg.core.atomic import atomic_write_bytes

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212)]
BACKDROP = (24, 24, 24)
CAPTION = (230, 230, 230)
MAX_ASPECT = 3  # cols / rows of the grid at most (a row of 7 images is no grid)


def class_color(class_id: int) -> Tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def text_color(fill: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black on light fills, white on dark ones (relative luminance, as WCAG weighs the channels)."""
    r, g, b = (c / 255 for c in fill)
    return (0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else (255, 255, 255)


def font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def grid_shape(n: int) -> Tuple[int, int]:
    """``(cols, rows)`` of the fullest grid of at most ``n`` cells with no empty cell, no wider (or taller)
    than :data:`MAX_ASPECT`; among equally full ones the squarest, then the wider."""
    if n <= 0:
        return 1, 1
    best = (1, 1)
    for cols in range(1, n + 1):
        rows = n // cols
        if rows == 0 or cols / rows > MAX_ASPECT or rows / cols > MAX_ASPECT:
            continue
        # fullest, then squarest, then wider than tall
        if (cols * rows, -abs(cols - rows), cols) > (best[0] * best[1], -abs(best[0] - best[1]), best[0]):
            best = (cols, rows)
    return best


def dashed_rectangle(draw: ImageDraw.ImageDraw, box: Sequence[float], color, width: int, dash: int) -> None:
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = math.hypot(bx - ax, by - ay)
        steps = max(1, int(length // (2 * dash)))
        for k in range(steps + 1):
            t0, t1 = min(1.0, 2 * k * dash / max(length, 1)), min(1.0, (2 * k + 1) * dash / max(length, 1))
            if t0 >= 1.0:
                break
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                      fill=color, width=width)


def label(draw: ImageDraw.ImageDraw, xy: Tuple[float, float], text: str, fill, fnt, bounds: Tuple[int, int]) -> None:
    """``text`` on a filled tag at the box's top-left corner: above the box when there is room, else inside;
    kept within the image."""
    x, y = xy
    left, top, right, bottom = draw.textbbox((0, 0), text, font=fnt)
    w, h = right - left + 6, bottom - top + 4
    ty = y - h - 1 if y - h - 1 >= 0 else y  # above the box's edge, or inside when at the image's top
    tx = min(max(0, x), max(0, bounds[0] - w))
    draw.rectangle([tx, ty, tx + w, ty + h], fill=fill)
    draw.text((tx + 3 - left, ty + 2 - top), text, fill=text_color(fill), font=fnt)


def _caption(rec: dict, width: int, fnt) -> List[str]:
    drawn, rejected = len(rec.get("objects") or []), len(rec.get("rejected") or [])
    stem = Path(rec["image"]).stem
    pasted = bool(rec.get("objects")) and {o.get("generator") for o in rec["objects"]} == {"copy_paste"}
    head = f"#{stem} {rec.get('split', '')} · {drawn} {'pasted' if pasted else 'drawn'}" + (
        f", {rejected} rejected" if rejected else "")
    bg = rec.get("background") or {}
    if bg.get("photo"):  # a real photo as background
        source = f"bg: {bg.get('source') or 'photo'} {Path(bg['photo']).name}"
    else:
        source = f"bg: {bg.get('prompt') or bg.get('source') or 'unknown'}"
    if bg.get("artifact"):
        source = f"{source} ({bg['artifact']}, kept)"
    lines = []
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for text in (head, source):
        while len(text) > 1 and probe.textlength(text, font=fnt) > width - 8:
            text = text[:-2] + "…"
        lines.append(text)
    return lines


def draw_cell(root: Path, rec: dict, cell: int, names: Dict[int, str]) -> Image.Image:
    """One image scaled to ``cell`` px wide with its boxes, labels and a two-line caption below."""
    fsize = max(10, cell // 22)
    fnt = font(fsize)
    line_h = fsize + 5
    with Image.open(root / rec["image"]) as im:
        img = im.convert("RGB")
    s = cell / img.width
    img = img.resize((cell, max(1, round(img.height * s))), Image.BICUBIC)
    out = Image.new("RGB", (cell, img.height + 2 * line_h + 4), BACKDROP)
    out.paste(img, (0, 0))
    draw = ImageDraw.Draw(out)
    width = max(2, cell // 128)
    dash = max(3, cell // 64)
    for obj in rec.get("rejected") or []:  # first, so accepted boxes and labels stay on top
        box = obj.get("requested_box") or obj.get("box")  # the box it was asked to fill
        if box is None:
            continue
        x, y, w, h = (v * s for v in box)
        rect = (x, y, x + w - 1, y + h - 1)
        dashed_rectangle(draw, rect, (0, 0, 0), width + 2, dash)  # a dark edge: visible on any image
        dashed_rectangle(draw, rect, class_color(obj["class_id"]), width, dash)
        label(draw, (x, y), f"rejected: {obj.get('class', names.get(obj['class_id'], obj['class_id']))}",
              (96, 96, 96), fnt, (cell, img.height))
    for obj in rec.get("objects") or []:
        x, y, w, h = (v * s for v in obj["box"])
        color = class_color(obj["class_id"])
        draw.rectangle([x - 1, y - 1, x + w, y + h], outline=(0, 0, 0), width=width + 2)
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=width)
        label(draw, (x, y), str(obj.get("class", names.get(obj["class_id"], obj["class_id"]))), color, fnt,
              (cell, img.height))
    for k, text in enumerate(_caption(rec, cell, fnt)):
        draw.text((4, img.height + 2 + k * line_h), text, fill=CAPTION, font=fnt)
    return out


def legend(names: Dict[int, str], width: int, fsize: int) -> Image.Image:
    """Class colours, and what a dashed box means."""
    fnt = font(fsize)
    strip = Image.new("RGB", (width, fsize + 14), BACKDROP)
    draw = ImageDraw.Draw(strip)
    x = 8
    for class_id, name in sorted(names.items()):
        color = class_color(class_id)
        draw.rectangle([x, 5, x + fsize, 5 + fsize], fill=color)
        draw.text((x + fsize + 5, 5), name, fill=CAPTION, font=fnt)
        x += fsize + 15 + int(draw.textlength(name, font=fnt))
    x += 12
    draw.rectangle([x, 5, x + fsize, 5 + fsize], outline=CAPTION, width=2)
    text = "labelled object"
    draw.text((x + fsize + 5, 5), text, fill=CAPTION, font=fnt)
    x += fsize + 20 + int(draw.textlength(text, font=fnt))
    dashed_rectangle(draw, (x, 5, x + fsize, 5 + fsize), CAPTION, 2, dash=3)
    draw.text((x + fsize + 5, 5), "rejected by the quality checks: not in the labels", fill=CAPTION, font=fnt)
    return strip


def sample_grid(root: Path, records: Sequence[dict], limit: int = 16, cell: int = 320) -> Image.Image:
    """The first images of ``records`` (at most ``limit``, as many as fill the grid) with boxes, labels and
    captions, and a legend below."""
    records = list(records)[:limit]
    cols, rows = grid_shape(len(records))
    records = records[: cols * rows]
    names = {o["class_id"]: o.get("class", str(o["class_id"])) for r in records
             for o in (r.get("objects") or []) + (r.get("rejected") or [])}
    cells = [draw_cell(root, rec, cell, names) for rec in records]
    cell_h = max((c.height for c in cells), default=cell)
    gap = 4
    width = cols * cell + (cols + 1) * gap
    key = legend(names, width, max(10, cell // 22))
    grid = Image.new("RGB", (width, rows * cell_h + (rows + 1) * gap + key.height), BACKDROP)
    for n, c in enumerate(cells):
        grid.paste(c, (gap + (n % cols) * (cell + gap), gap + (n // cols) * (cell_h + gap)))
    grid.paste(key, (0, rows * cell_h + (rows + 1) * gap))
    return grid


def write_sample_grid(path: Path, root: Path, records: Sequence[dict], limit: int = 16) -> Path:
    """The sample grid of an export's ``records`` (images under ``root``) as a PNG at ``path``."""
    buf = io.BytesIO()
    sample_grid(root, records, limit).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())

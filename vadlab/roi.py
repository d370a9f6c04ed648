"""Regions of interest (ROI): the zones of the frame where anomalies can happen.

An ROI is a tuple of polygons; each polygon is a tuple of (x, y) points in NORMALISED coordinates
(x = column / width, y = row / height, both in [0, 1]), so one ROI fits any model resolution.
A rectangle is a 4-point polygon. The empty tuple means "the whole frame".

Rasterisation rule: a pixel belongs to the ROI when its CENTRE ((col + 0.5) / width,
(row + 0.5) / height) lies inside at least one polygon (even-odd rule per polygon). With this rule
adjacent rectangles tile the frame without overlap or gaps at any resolution, which PIL's
`ImageDraw.polygon` (edges inclusive, coordinates truncated) does not guarantee; PIL is used to read
and resize mask images.

Text form (CLI, app): polygons separated by ';', each `rect:x0,y0,x1,y1` (two opposite corners) or
`poly:x1,y1,x2,y2,x3,y3[,...]`, e.g. "rect:0.1,0.2,0.5,0.9; poly:0.1,0.1,0.9,0.1,0.5,0.8".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

Point = tuple[float, float]
Polygon = tuple[Point, ...]
ROI = tuple[Polygon, ...]


class ROIError(ValueError):
    """An ROI that cannot be used: bad text, bad polygon, bad mask image or mismatched shapes."""


def normalize_polygons(polygons: Any) -> ROI:
    """Validate an ROI given as nested sequences (tuples or JSON lists), or as its text form (see
    `parse_roi`), and return it as tuples of float tuples. Raises ROIError naming the offending polygon."""
    if polygons is None:
        return ()
    if isinstance(polygons, str):
        return parse_roi(polygons)
    out = []
    for i, polygon in enumerate(polygons):
        try:
            if any(len(p) != 2 for p in polygon):
                raise TypeError
            points = tuple((float(p[0]), float(p[1])) for p in polygon)
        except (TypeError, ValueError, IndexError):
            raise ROIError(f"ROI polygon {i}: expected a sequence of (x, y) pairs, got {polygon!r}") from None
        if len(points) < 3:
            raise ROIError(f"ROI polygon {i}: needs at least 3 points, got {len(points)}")
        for x, y in points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ROIError(
                    f"ROI polygon {i}: point ({x}, {y}) is outside [0, 1]; ROI coordinates are fractions "
                    "of the frame width and height"
                )
        out.append(points)
    return tuple(out)


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """The 4-point polygon of the axis-aligned rectangle with opposite corners (x0, y0), (x1, y1)."""
    left, right = sorted((float(x0), float(x1)))
    top, bottom = sorted((float(y0), float(y1)))
    return ((left, top), (right, top), (right, bottom), (left, bottom))


def roi_mask(polygons: Sequence[Sequence[Sequence[float]]], height: int, width: int) -> np.ndarray:
    """Rasterise an ROI to a bool mask (height, width); True inside. The empty ROI is all True.

    A pixel is inside when its centre is inside any polygon (see the module docstring).
    """
    if height <= 0 or width <= 0:
        raise ROIError(f"mask size must be positive, got {height}x{width}")
    polys = normalize_polygons(polygons)
    if not polys:
        return np.ones((height, width), dtype=bool)
    cy = (np.arange(height, dtype=np.float64)[:, None] + 0.5) / height  # (H, 1) pixel-centre rows
    cx = (np.arange(width, dtype=np.float64)[None, :] + 0.5) / width  # (1, W) pixel-centre cols
    mask = np.zeros((height, width), dtype=bool)
    for poly in polys:
        inside = np.zeros((height, width), dtype=bool)
        n = len(poly)
        for i in range(n):  # even-odd crossing test, one edge at a time, vectorised over pixels
            (xa, ya), (xb, yb) = poly[i], poly[(i + 1) % n]
            if ya == yb:
                continue  # horizontal edges never cross a horizontal ray
            straddles = (ya > cy) != (yb > cy)  # (H, 1)
            x_cross = xa + (cy - ya) * (xb - xa) / (yb - ya)  # (H, 1) where the edge meets row cy
            inside ^= straddles & (cx < x_cross)  # (H, W)
        mask |= inside
    return mask


def parse_roi(text: str) -> ROI:
    """Parse the ROI text form ("rect:x0,y0,x1,y1; poly:x1,y1,x2,y2,x3,y3") into polygons.

    Empty or blank text (or "full") means the whole frame and returns ().
    """
    if text is None or not text.strip() or text.strip().lower() == "full":
        return ()
    polygons = []
    for part_no, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        kind, sep, numbers = part.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in ("rect", "poly"):
            raise ROIError(
                f"ROI part {part_no + 1} {part!r}: expected 'rect:x0,y0,x1,y1' or 'poly:x1,y1,x2,y2,x3,y3,...'"
            )
        try:
            values = [float(v) for v in numbers.split(",") if v.strip()]
        except ValueError:
            raise ROIError(f"ROI part {part_no + 1} {part!r}: coordinates must be numbers") from None
        if kind == "rect":
            if len(values) != 4:
                raise ROIError(f"ROI part {part_no + 1} {part!r}: a rect needs 4 numbers x0,y0,x1,y1, got {len(values)}")
            polygons.append(rect(*values))
        else:
            if len(values) < 6 or len(values) % 2:
                raise ROIError(
                    f"ROI part {part_no + 1} {part!r}: a poly needs an even number (>= 6) of coordinates, got {len(values)}"
                )
            polygons.append(tuple(zip(values[0::2], values[1::2])))
    return normalize_polygons(polygons)


def format_roi(polygons: Sequence) -> str:
    """The text form of an ROI (inverse of `parse_roi`; rectangles are written as polygons)."""
    polys = normalize_polygons(polygons)
    return "; ".join("poly:" + ",".join(f"{x:g},{y:g}" for x, y in poly) for poly in polys)


def roi_from_mask_image(path_or_array: Union[str, Path, np.ndarray], height: int, width: int) -> np.ndarray:
    """A bool ROI mask (height, width) from a mask image (file path or array).

    The image is read as grey (PIL), resized with nearest-neighbour to (width, height), and a pixel is
    inside when its value is over half the range (> 127 for 8-bit images, > 0.5 for float arrays in
    [0, 1], True for bool arrays). Arrays may be (H0, W0) or (H0, W0, C).
    """
    from PIL import Image

    if isinstance(path_or_array, (str, Path)):
        path = Path(path_or_array)
        if not path.is_file():
            raise ROIError(f"{path}: ROI mask image not found")
        try:
            with Image.open(path) as im:
                grey = np.asarray(im.convert("L"))
        except OSError as exc:
            raise ROIError(f"{path}: cannot read ROI mask image ({exc})") from None
        inside = grey > 127
    else:
        arr = np.asarray(path_or_array)
        if arr.ndim == 3:
            arr = arr.max(axis=2)  # any channel set
        if arr.ndim != 2:
            raise ROIError(f"ROI mask array must be (H, W) or (H, W, C), got shape {arr.shape}")
        if arr.dtype == bool:
            inside = arr
        elif np.issubdtype(arr.dtype, np.floating):
            inside = arr > 0.5
        elif arr.dtype == np.uint8:
            inside = arr > 127
        else:
            raise ROIError(f"ROI mask array must be bool, uint8 or float, got {arr.dtype}")
    if inside.shape != (height, width):
        im = Image.fromarray(inside.astype(np.uint8) * 255).resize((width, height), Image.NEAREST)
        inside = np.asarray(im) > 127
    if not inside.any():
        raise ROIError("ROI mask is empty: no pixel is inside the region")
    return inside.copy()


def apply_roi_to_error_maps(maps: Union[np.ndarray, torch.Tensor], mask: Union[np.ndarray, torch.Tensor]):
    """Zero error maps outside the ROI.

    maps: (N, h, w) or (h, w) numpy array or tensor; mask: (h, w) bool at the SAME resolution
    (rasterise polygons with `roi_mask(polygons, h, w)`). Returns the same type and dtype as `maps`.
    """
    mask_shape = tuple(mask.shape)
    if tuple(maps.shape[-2:]) != mask_shape or len(mask_shape) != 2:
        raise ROIError(
            f"ROI mask {mask_shape} does not match error maps {tuple(maps.shape)}; "
            f"build the mask at the maps' resolution: roi_mask(polygons, {maps.shape[-2]}, {maps.shape[-1]})"
        )
    if isinstance(maps, torch.Tensor):
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask, device=maps.device)
        return torch.where(m.bool(), maps, torch.zeros((), dtype=maps.dtype, device=maps.device))
    m = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    return np.where(m.astype(bool), maps, np.zeros((), dtype=maps.dtype)).astype(maps.dtype, copy=False)

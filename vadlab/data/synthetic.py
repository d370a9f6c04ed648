"""Generated walkway videos with injected anomalies, frame labels and pixel masks.

A seeded, UCSD-Ped2-like surveillance scene for the app's demo inputs, the tests and the shipped tiny
checkpoints: a static camera looks down a paved walkway that runs vertically through the frame,
with a lawn on each side, a bench, a lamp post, a bin and a tree. Pedestrians (head, body, two legs
with a 2-phase swing) walk up and down the walkway at walking speed; 2 to 6 are visible at a time.
Frames are grey (three equal channels), uint8 (T, H, W, 3), with sensor noise (sigma ~2 grey
levels) and a slight global illumination flicker.

Anomaly kinds (each occupies one contiguous span of frames, about the middle half of a clip):
  * ``fast_object``     cyclists / skaters riding along the walkway at 3-5x walking speed;
  * ``large_object``    a cart (a box ~8x a person's area) driving along the walkway;
  * ``wrong_direction`` a person (in light clothes) cutting ACROSS the lawn, perpendicular to all
                        normal traffic (nobody ever walks on the grass in normal video), near one
                        end of the path, then out of the frame along the kerb, still on the grass;
  * ``erratic``         a person who darts onto the walkway, about it and off again,
                        erratically (a new direction every 2-4 frames at 3-5x walking speed),
                        waving their arms.

Ground truth is exact: ``masks[t]`` are the pixels covered by the anomalous object(s) in frame t
(everything from its entry into the frame to its exit), and ``labels[t] = masks[t].any()``. Nothing else in the frame
changes when an anomaly is present (no markers), so a detector has to see the object itself.

Units: positions in pixels of the output frame, speeds in pixels per frame at 10 fps for a 120-px
high frame (they scale with the frame height and with 10 / fps, so a clip's *physical* motion does
not depend on its size or frame rate).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Sequence, get_args

import numpy as np

AnomalyKind = Literal["fast_object", "large_object", "wrong_direction", "erratic"]
ANOMALY_KINDS: tuple[str, ...] = get_args(AnomalyKind)

_REFERENCE_FPS = 10.0
_REFERENCE_HEIGHT = 120.0


@dataclass
class SyntheticClip:
    """One generated video with its ground truth.

    frames: (T, H, W, 3) uint8, grey content (three equal channels).
    labels: (T,) uint8, 1 where an anomalous object is visible in the frame.
    masks:  (T, H, W) bool, the anomalous object's pixels.
    anomaly_kinds: the kinds injected (empty for a normal clip).
    fps: frames per second.
    name: a short identifier (the file stem when written by `write_samples`).
    """

    frames: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    anomaly_kinds: list[str]
    fps: float
    name: str

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def anomalous_span(self) -> Optional[tuple[int, int]]:
        """(first, last) anomalous frame indices (inclusive), or None for a normal clip."""
        idx = np.flatnonzero(self.labels)
        return None if idx.size == 0 else (int(idx[0]), int(idx[-1]))


# ---------------------------------------------------------------------------------------------
# Scene: the static background shared by every clip of one camera
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    background: np.ndarray = field(repr=False)  # (H, W) float32 grey levels
    walk_left: float  # walkway x range [walk_left, walk_right) in pixels
    walk_right: float
    scale: float  # frame height / 120


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Unit-variance-ish noise varying over `cell` pixels: coarse normal noise, bilinear upsampled."""
    gh, gw = height // cell + 2, width // cell + 2
    coarse = rng.normal(0.0, 1.0, size=(gh, gw))
    ys = np.arange(height) / cell
    xs = np.arange(width) / cell
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    c00 = coarse[y0][:, x0]
    c01 = coarse[y0][:, x0 + 1]
    c10 = coarse[y0 + 1][:, x0]
    c11 = coarse[y0 + 1][:, x0 + 1]
    return (c00 * (1 - fy) * (1 - fx) + c01 * (1 - fy) * fx + c10 * fy * (1 - fx) + c11 * fy * fx)


def _make_scene(scene_seed: int, width: int, height: int) -> _Scene:
    rng = np.random.default_rng(np.random.SeedSequence([int(scene_seed), 1]))
    s = height / _REFERENCE_HEIGHT
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    walk_left = width * rng.uniform(0.31, 0.36)
    walk_right = walk_left + width * rng.uniform(0.33, 0.37)

    # Lawn: darker, grainy, with large soft patches.
    lawn = 92.0 + rng.uniform(-6, 6) + 6.0 * _smooth_noise(rng, height, width, max(2, int(12 * s)))
    grain = rng.normal(0.0, 9.0, size=(height, width))
    grain = 0.5 * grain + 0.25 * (np.roll(grain, 1, 0) + np.roll(grain, 1, 1))  # soften a little
    lawn = lawn + grain

    # Paving: light tiles with darker joints, per-tile brightness, fine texture.
    tile_w, tile_h = max(4, int(round(14 * s))), max(3, int(round(10 * s)))
    paving_base = 150.0 + rng.uniform(-8, 8)
    tile_row = (yy // tile_h).astype(int)
    # Staggered bond: odd rows shifted by half a tile.
    tile_col = ((xx + (tile_row % 2) * tile_w / 2) // tile_w).astype(int)
    tile_brightness = rng.normal(0.0, 4.0, size=(tile_row.max() + 1, tile_col.max() + 1))
    paving = paving_base + tile_brightness[tile_row, tile_col] + rng.normal(0.0, 2.5, size=(height, width))
    joint = ((yy % tile_h) < 1) | (((xx + (tile_row % 2) * tile_w / 2) % tile_w) < 1)
    paving = np.where(joint, paving - 14.0, paving)
    paving = paving + 3.0 * _smooth_noise(rng, height, width, max(2, int(20 * s)))  # stains

    on_walk = (xx >= walk_left) & (xx < walk_right)
    background = np.where(on_walk, paving, lawn)
    # Kerbs: a light stone line on each edge of the walkway.
    kerb = max(1, int(round(2 * s)))
    for band in ((xx >= walk_left - kerb) & (xx < walk_left), (xx >= walk_right) & (xx < walk_right + kerb)):
        background = np.where(band, 182.0 + rng.normal(0, 3, size=(height, width)), background)

    def stamp(sdf: np.ndarray, value: float, opacity: float = 1.0) -> None:
        nonlocal background
        alpha = opacity * np.clip(0.5 - sdf, 0.0, 1.0)
        background = background * (1 - alpha) + value * alpha

    left_lawn_mid = 0.5 * walk_left
    right_lawn_mid = 0.5 * (walk_right + width)
    # Tree on one lawn (dark textured crown with a shadow), bench on the other.
    tree_on_left = bool(rng.integers(2))
    tx = (left_lawn_mid if tree_on_left else right_lawn_mid) + rng.uniform(-6, 6) * s
    ty = height * rng.uniform(0.2, 0.4)
    r = 12 * s
    stamp(_sdf_ellipse(xx - tx - 3 * s, yy - ty - 3 * s, r, r * 0.9), 60.0, opacity=0.5)
    crown = _sdf_ellipse(xx - tx, yy - ty, r, r * 0.9)
    crown_tex = 55.0 + 12.0 * _smooth_noise(rng, height, width, max(1, int(3 * s)))
    alpha = np.clip(0.5 - crown, 0.0, 1.0)
    background = background * (1 - alpha) + crown_tex * alpha

    bx = (right_lawn_mid if tree_on_left else left_lawn_mid) + rng.uniform(-4, 4) * s
    by = height * rng.uniform(0.55, 0.8)
    stamp(_sdf_box(xx - bx - 1.5 * s, yy - by - 2 * s, 4 * s, 10 * s, 1.0), 60.0, opacity=0.4)  # shadow
    stamp(_sdf_box(xx - bx, yy - by, 3.5 * s, 10 * s, 0.5), 72.0)  # bench seat (along the path)
    stamp(_sdf_box(xx - bx - 2.5 * s, yy - by, 1.0 * s, 10 * s, 0.3), 48.0)  # backrest

    # Lamp post on one kerb, bin on the other.
    lx = walk_left - 4 * s if rng.integers(2) else walk_right + 4 * s
    ly = height * rng.uniform(0.15, 0.85)
    stamp(_sdf_box(xx - lx, yy - ly, 1.0 * s, 10 * s, 0.2), 45.0)
    stamp(_sdf_ellipse(xx - lx, yy - ly + 10 * s, 2.5 * s, 2.0 * s), 200.0)
    bin_x = walk_right + 3 * s if lx < walk_left else walk_left - 3 * s
    bin_y = height * rng.uniform(0.15, 0.85)
    stamp(_sdf_box(xx - bin_x, yy - bin_y, 2.5 * s, 2.5 * s, 1.0), 58.0)

    return _Scene(background.astype(np.float32), float(walk_left), float(walk_right), float(s))


# ---------------------------------------------------------------------------------------------
# Shapes: signed distance fields (pixels; < 0 inside) rendered with a 1-px anti-aliased edge
# ---------------------------------------------------------------------------------------------


def _sdf_ellipse(dx: np.ndarray, dy: np.ndarray, a: float, b: float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse with semi-axes a (x), b (y)."""
    k0 = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    k1 = np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = k0 * (k0 - 1.0) / k1
    return np.where(k1 > 1e-9, d, -min(a, b))


def _sdf_box(dx: np.ndarray, dy: np.ndarray, half_w: float, half_h: float, radius: float) -> np.ndarray:
    """Signed distance to an axis-aligned rounded box (half sizes include the rounding)."""
    radius = min(radius, half_w, half_h)
    qx = np.abs(dx) - (half_w - radius)
    qy = np.abs(dy) - (half_h - radius)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - radius


# A primitive: ("ellipse" | "box", dx, dy, half_w, half_h, radius, grey value, opacity)
_Primitive = tuple[str, float, float, float, float, float, float, float]


def _person_shape(p: dict, phase: int, horizontal: bool, s: float) -> list[_Primitive]:
    """Head, body and two legs of a walker centred on its body; `phase` 0/1 swings the legs."""
    body, head, legs = p["body"], p["head"], p["legs"]
    if horizontal:  # walking sideways: legs open and close in x
        spread = 1.6 * s if phase else 0.6 * s
        leg_a = ("box", -spread, 5.0 * s, 0.8 * s, 2.2 * s, 0.4, legs, 1.0)
        leg_b = ("box", spread, 5.0 * s, 0.8 * s, 2.2 * s, 0.4, legs, 1.0)
    else:  # walking up/down the path: one leg reaches further than the other
        reach = 0.9 * s
        la, lb = (reach, -reach) if phase else (-reach, reach)
        leg_a = ("box", -1.2 * s, (4.9 * s) + la * 0.5, 0.8 * s, 2.2 * s + la * 0.5, 0.4, legs, 1.0)
        leg_b = ("box", 1.2 * s, (4.9 * s) + lb * 0.5, 0.8 * s, 2.2 * s + lb * 0.5, 0.4, legs, 1.0)
    return [
        ("ellipse", 2.0 * s, 3.0 * s, 3.5 * s, 5.0 * s, 0.0, 0.0, 0.22),  # soft shadow
        leg_a,
        leg_b,
        ("ellipse", 0.0, 0.0, 3.0 * s, 4.0 * s, 0.0, body, 1.0),
        ("ellipse", 0.0, -5.4 * s, 1.8 * s, 1.8 * s, 0.0, head, 1.0),
    ]


def _waving_arms(p: dict, phase: int, s: float) -> list[_Primitive]:
    """Two arms stretched out sideways from the shoulders, raised and lowered on alternate frames."""
    dy = -3.5 * s if phase else -1.0 * s
    return [
        ("box", -4.5 * s, dy, 2.6 * s, 0.8 * s, 0.4, p["body"], 1.0),
        ("box", 4.5 * s, dy, 2.6 * s, 0.8 * s, 0.4, p["body"], 1.0),
    ]


def _rider_shape(p: dict, direction: float, s: float) -> list[_Primitive]:
    """A cyclist seen from above/behind: a long dark bike (two wheels, frame) under a seated rider."""
    frame_v = p["bike"]
    return [
        ("ellipse", 2.0 * s, 2.0 * s, 3.5 * s, 10.0 * s, 0.0, 0.0, 0.22),
        ("box", 0.0, 0.0, 0.8 * s, 8.5 * s, 0.5, frame_v, 1.0),  # frame
        ("ellipse", 0.0, -6.5 * s, 1.3 * s, 3.2 * s, 0.0, frame_v, 1.0),  # wheels
        ("ellipse", 0.0, 6.5 * s, 1.3 * s, 3.2 * s, 0.0, frame_v, 1.0),
        ("box", 0.0, -3.5 * direction * s, 3.5 * s, 0.6 * s, 0.3, frame_v, 1.0),  # handlebar (front)
        ("ellipse", 0.0, 0.5 * direction * s, 3.0 * s, 3.6 * s, 0.0, p["body"], 1.0),  # rider
        ("ellipse", 0.0, -1.5 * direction * s, 1.8 * s, 1.8 * s, 0.0, p["head"], 1.0),
    ]


def _skater_shape(p: dict, s: float) -> list[_Primitive]:
    """A skater: a person in a wide fixed stance on a board."""
    return [
        ("ellipse", 2.0 * s, 3.0 * s, 4.0 * s, 6.0 * s, 0.0, 0.0, 0.22),
        ("box", 0.0, 7.0 * s, 1.3 * s, 4.0 * s, 0.6, p["bike"], 1.0),  # board
        ("box", -2.0 * s, 4.5 * s, 0.9 * s, 2.8 * s, 0.4, p["legs"], 1.0),
        ("box", 2.0 * s, 4.5 * s, 0.9 * s, 2.8 * s, 0.4, p["legs"], 1.0),
        ("ellipse", 0.0, 0.0, 3.4 * s, 4.2 * s, 0.0, p["body"], 1.0),
        ("ellipse", 0.0, -5.6 * s, 1.8 * s, 1.8 * s, 0.0, p["head"], 1.0),
    ]


def _cart_shape(p: dict, direction: float, s: float) -> list[_Primitive]:
    """A utility cart seen from above: body, roof, windscreen at the front, four wheels."""
    hw, hh = 11.0 * s, 15.0 * s
    out: list[_Primitive] = [("box", 3.0 * s, 3.0 * s, hw + 1 * s, hh + 1 * s, 3.0 * s, 0.0, 0.3)]
    for wx in (-1, 1):
        for wy in (-1, 1):
            out.append(("box", wx * (hw + 0.3 * s), wy * (hh - 5 * s), 1.4 * s, 3.0 * s, 0.8, 30.0, 1.0))
    out += [
        ("box", 0.0, 0.0, hw, hh, 2.5 * s, p["body"], 1.0),
        ("box", 0.0, 2.0 * direction * s, hw - 2.5 * s, hh - 6 * s, 1.5 * s, p["roof"], 1.0),
        ("box", 0.0, (hh - 4.0 * s) * direction, hw - 2.0 * s, 1.8 * s, 1.0, 40.0, 1.0),  # windscreen
    ]
    return out


def _draw(canvas: np.ndarray, coverage: Optional[np.ndarray], x: float, y: float, shape: list[_Primitive]) -> None:
    """Alpha-composite `shape` centred at (x, y) onto `canvas` (H, W) float, in place; when
    `coverage` is given, also record the object's (non-shadow) coverage max into it."""
    height, width = canvas.shape
    reach = max(max(abs(dx) + hw, abs(dy) + hh) for _, dx, dy, hw, hh, *_ in shape) + 2
    x0, x1 = max(0, int(math.floor(x - reach))), min(width, int(math.ceil(x + reach)) + 1)
    y0, y1 = max(0, int(math.floor(y - reach))), min(height, int(math.ceil(y + reach)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    patch = canvas[y0:y1, x0:x1]
    for kind, dx, dy, hw, hh, radius, value, opacity in shape:
        px, py = xx - (x + dx), yy - (y + dy)
        sdf = _sdf_ellipse(px, py, hw, hh) if kind == "ellipse" else _sdf_box(px, py, hw, hh, radius)
        alpha = np.clip(0.5 - sdf, 0.0, 1.0)
        if opacity < 1.0:  # a shadow: darkens what is there, never part of the object
            patch *= 1.0 - opacity * alpha
            continue
        patch[:] = patch * (1.0 - alpha) + value * alpha
        if coverage is not None:
            np.maximum(coverage[y0:y1, x0:x1], alpha, out=coverage[y0:y1, x0:x1])


# ---------------------------------------------------------------------------------------------
# Actors: every object's whole trajectory is planned first, then frames are rendered
# ---------------------------------------------------------------------------------------------


@dataclass
class _Actor:
    kind: str  # "walker", "rider", "skater", "cart"
    x: np.ndarray  # (T,) centre x per frame
    y: np.ndarray  # (T,) centre y per frame
    anomalous: np.ndarray  # (T,) bool: behaving anomalously in this frame
    appearance: dict
    heading: np.ndarray  # (T,) +1/-1 travel direction along the path (y) for shapes with a front
    horizontal: np.ndarray  # (T,) bool: walking sideways (legs swing in x)
    stride: float  # pixels travelled per leg phase
    waving: Optional[np.ndarray] = None  # (T,) bool: arms up and waving (erratic behaviour)


def _appearance(rng: np.random.Generator) -> dict:
    light = bool(rng.integers(2))
    return {
        # light or dark clothes, about equally far from the paving's grey (~150)
        "body": float(rng.uniform(195, 230) if light else rng.uniform(65, 105)),
        "head": float(rng.uniform(38, 95)),
        "legs": float(rng.uniform(28, 75)),
        "bike": float(rng.uniform(22, 45)),
        "roof": float(rng.uniform(60, 90) if light else rng.uniform(190, 225)),
    }


def _walk_speed(rng: np.random.Generator, s: float, fps: float) -> float:
    return float(rng.uniform(0.6, 1.2) * s * _REFERENCE_FPS / fps)


def _plan_pedestrians(rng: np.random.Generator, scene: _Scene, n: int, height: int, fps: float) -> list[_Actor]:
    """Normal walkers up and down the walkway, entering and leaving, 2-6 visible at a time.

    The crowd density is steady within a clip, as over a minute of real footage: each clip has a
    target number of walkers (3-5), and when one starts to leave the frame a new one enters at
    either end (after a short random delay), so the number on screen stays within about one of
    the target.
    """
    s = scene.scale
    margin = 6.0 * s
    x_lo, x_hi = scene.walk_left + margin, scene.walk_right - margin
    off = 9.0 * s  # a walker is fully outside the frame beyond this distance from an edge
    edge = 7.0 * s  # a walker whose centre is this close to its exit edge has started to leave
    target = int(rng.integers(3, 6))
    actors: list[dict] = []

    def new_walker(y: float, direction: float) -> dict:
        return {
            "x": float(rng.uniform(x_lo, x_hi)),
            "y": y,
            "vy": direction * _walk_speed(rng, s, fps),
            "vx": float(rng.uniform(-0.04, 0.04) * s * _REFERENCE_FPS / fps),
            "app": _appearance(rng),
            "xs": [],
            "ys": [],
            "start": None,
        }

    def staying(a: dict) -> bool:  # in (or entering) the frame and not yet leaving it
        return (a["vy"] > 0 and a["y"] < height - edge) or (a["vy"] < 0 and a["y"] > edge)

    live = [new_walker(float(rng.uniform(edge, height - edge)), float(rng.choice([-1.0, 1.0]))) for _ in range(target)]
    delay = 0
    for t in range(n):
        if sum(staying(a) for a in live) < target:
            if delay == 0:
                delay = int(rng.integers(1, 6))
            delay -= 1
            if delay == 0:
                direction = float(rng.choice([-1.0, 1.0]))
                live.append(new_walker(-off + 1.0 if direction > 0 else height + off - 1.0, direction))
        for a in live:
            if a["start"] is None:
                a["start"] = t
            a["xs"].append(a["x"])
            a["ys"].append(a["y"])
            a["y"] += a["vy"]
            a["x"] += a["vx"]
            if not x_lo <= a["x"] <= x_hi:  # keep to the walkway
                a["vx"] = -a["vx"]
                a["x"] = float(np.clip(a["x"], x_lo, x_hi))
        gone = [a for a in live if (a["vy"] > 0 and a["y"] > height + off) or (a["vy"] < 0 and a["y"] < -off)]
        actors.extend(gone)
        live = [a for a in live if not any(a is g for g in gone)]
    actors.extend(live)

    out = []
    for a in actors:
        xs = np.full(n, np.nan)
        ys = np.full(n, np.nan)
        xs[a["start"] : a["start"] + len(a["xs"])] = a["xs"]
        ys[a["start"] : a["start"] + len(a["ys"])] = a["ys"]
        out.append(
            _Actor("walker", xs, ys, np.zeros(n, bool), a["app"], np.full(n, np.sign(a["vy"])), np.zeros(n, bool), 3.0 * s)
        )
    return out


def _anomaly_span(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """Target [start, end) of an anomaly: about the middle half of the clip."""
    start = int(round(n * rng.uniform(0.2, 0.3)))
    end = int(round(n * rng.uniform(0.7, 0.8)))
    return start, max(end, start + 1)


def _plan_anomaly(kind: str, rng: np.random.Generator, scene: _Scene, n: int, width: int, height: int, fps: float) -> list[_Actor]:
    s = scene.scale
    t = np.arange(n, dtype=np.float64)
    start, end = _anomaly_span(rng, n)
    walk_mid = 0.5 * (scene.walk_left + scene.walk_right)
    half_walk = 0.5 * (scene.walk_right - scene.walk_left)
    time_scale = _REFERENCE_FPS / fps

    if kind == "fast_object":
        # Riders at 3-5x walking speed; enough of them, one after another, to fill the span.
        half_len = 10.0 * s
        walking = 0.9 * s * time_scale  # the mean walking speed
        # 3-5x walking speed; in a short clip, fast enough (up to 5x) to cross within the span.
        speed = float(max(rng.uniform(3.0, 5.0) * walking, min(5.0 * walking, (height + 2 * half_len) / max(end - start, 1))))
        crossing = (height + 2 * half_len) / speed  # frames one rider is visible
        k = max(1, int(math.ceil((end - start) / crossing)))
        spacing = (end - start - crossing) / (k - 1) if k > 1 else 0.0
        spacing = max(spacing, 0.35 * crossing) if k > 1 else 0.0
        actors = []
        for i in range(k):
            enter = start + i * spacing
            direction = float(rng.choice([-1.0, 1.0]))
            y0 = -half_len if direction > 0 else height + half_len
            ys = y0 + direction * speed * (t - enter)
            xs = np.full(n, walk_mid + rng.uniform(-0.6, 0.6) * half_walk)
            present = t >= enter
            ys[~present] = np.nan
            rider_kind = "rider" if rng.random() < 0.7 else "skater"
            actors.append(
                _Actor(rider_kind, xs, ys, present.copy(), _appearance(rng), np.full(n, direction), np.zeros(n, bool), 1e9)
            )
        return actors

    if kind == "large_object":
        half_len = 16.0 * s
        speed = float(np.clip((height + 2 * half_len) / max(end - start, 1), 1.3 * s * time_scale, 3.2 * s * time_scale))
        direction = float(rng.choice([-1.0, 1.0]))
        y0 = -half_len if direction > 0 else height + half_len
        ys = y0 + direction * speed * (t - start)
        present = t >= start
        ys[~present] = np.nan
        xs = np.full(n, walk_mid + rng.uniform(-0.25, 0.25) * half_walk)
        return [_Actor("cart", xs, ys, present.copy(), _appearance(rng), np.full(n, direction), np.zeros(n, bool), 1e9)]

    if kind == "wrong_direction":
        # Cuts across the lawn, perpendicular to all normal traffic, near one end of the path; at
        # the kerb turns and walks out of the frame along it, still on the grass.
        speed = float(rng.uniform(0.9, 1.2) * s * time_scale)
        start = int(round(n * rng.uniform(0.12, 0.2)))  # the walk is long: start it a little earlier
        from_left = bool(rng.integers(2))
        x_enter = -5.0 * s if from_left else width + 5.0 * s
        kerb_gap = 6.0 * s  # stays on the grass, clear of the kerb
        x_turn = scene.walk_left - kerb_gap if from_left else scene.walk_right + kerb_gap
        off = 9.0 * s
        to_top = bool(rng.integers(2))
        exit_distance = float(height * rng.uniform(0.08, 0.15)) + off  # from the crossing to out of frame
        y_cross = exit_distance - off if to_top else height - (exit_distance - off)
        direction = -1.0 if to_top else 1.0
        turn = start + abs(x_turn - x_enter) / speed
        across = t < turn
        xs = np.where(across, x_enter + np.sign(x_turn - x_enter) * speed * (t - start), x_turn)
        ys = np.where(across, y_cross, y_cross + direction * speed * (t - turn))
        gone = (t < start) | (ys < -off) | (ys > height + off)
        xs[gone] = np.nan
        ys[gone] = np.nan
        appearance = _appearance(rng)
        appearance["body"] = float(rng.uniform(195, 230))  # light clothes: clearly visible on the grass
        return [_Actor("walker", xs, ys, ~gone, appearance, np.full(n, direction), across.copy(), 3.0 * s)]

    if kind == "erratic":
        # Darts in from one end of the walkway, darts about on it, darts out at either end: a new
        # heading every 2-4 frames at 3-5x walking speed, waving their arms; anomalous throughout.
        off = 10.0 * s
        x_lo, x_hi = scene.walk_left + 4 * s, scene.walk_right - 4 * s
        y_lo, y_hi = 0.15 * height, 0.85 * height
        entry_down = bool(rng.integers(2))
        x, y = float(rng.uniform(x_lo, x_hi)), (-off + 1.0 if entry_down else height + off - 1.0)
        exit_down = bool(rng.integers(2))
        # Leave the middle early enough to be out (about half the frame at ~3.5 px/frame) by `end`.
        leave_at = end - int(round(0.55 * height / (3.5 * s * time_scale)))
        xs, ys = np.full(n, np.nan), np.full(n, np.nan)
        vx = vy = 0.0
        frames_left = 0  # until the next change of heading
        for i in range(start, n):
            inside = y_lo <= y <= y_hi
            if frames_left == 0:
                if i >= leave_at:  # head for the exit, still zig-zagging
                    goal = math.pi / 2 if exit_down else -math.pi / 2
                    angle = goal + rng.uniform(-1.0, 1.0)
                elif not inside:  # still coming in: head for the middle, zig-zagging
                    goal = math.atan2(0.5 * height - y, walk_mid - x)
                    angle = goal + rng.uniform(-1.0, 1.0)
                else:
                    angle = rng.uniform(0, 2 * math.pi)
                step = rng.uniform(3.0, 4.5) * s * time_scale
                vx, vy = step * math.cos(angle), step * math.sin(angle)
                frames_left = int(rng.integers(2, 5))
            frames_left -= 1
            xs[i], ys[i] = x, y
            x, y = x + vx, y + vy
            if not x_lo <= x <= x_hi:  # stays on the walkway
                vx, x = -vx, float(np.clip(x, x_lo, x_hi))
            if inside and i < leave_at and not y_lo <= y <= y_hi:  # darting about the middle
                vy, y = -vy, float(np.clip(y, y_lo, y_hi))
            if i >= leave_at and not -off <= y <= height + off:
                break
        heading = np.where(np.diff(ys, prepend=np.nan) < 0, -1.0, 1.0)
        present = np.isfinite(ys)
        return [_Actor("walker", xs, ys, present.copy(), _appearance(rng), heading, np.zeros(n, bool), 3.0 * s,
                       waving=present.copy())]

    raise AssertionError(kind)  # kinds are validated by generate_clip


def _shape_at(actor: _Actor, i: int, s: float, distance: float) -> list[_Primitive]:
    if actor.kind == "walker":
        phase = int(distance // actor.stride) % 2
        shape = _person_shape(actor.appearance, phase, bool(actor.horizontal[i]), s)
        if actor.waving is not None and actor.waving[i]:
            shape = shape[:3] + _waving_arms(actor.appearance, i % 2, s) + shape[3:]
        return shape
    if actor.kind == "rider":
        return _rider_shape(actor.appearance, float(actor.heading[i]), s)
    if actor.kind == "skater":
        return _skater_shape(actor.appearance, s)
    return _cart_shape(actor.appearance, float(actor.heading[i]), s)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_clip(
    seed: int,
    n_frames: int = 120,
    width: int = 160,
    height: int = 120,
    anomalies: Sequence[str] = (),
    fps: float = 10.0,
    *,
    scene_seed: Optional[int] = None,
    name: Optional[str] = None,
) -> SyntheticClip:
    """Generate one walkway clip, deterministically for (seed, scene_seed, sizes, anomalies, fps).

    seed:       the clip's pedestrians, anomalies, noise and flicker.
    scene_seed: the static background (the camera); clips with the same scene_seed share it.
                Defaults to `seed`.
    anomalies:  kinds from `ANOMALY_KINDS` to inject (each in its own contiguous span around the
                middle half of the clip); empty for a normal clip.
    Returns a `SyntheticClip` with frames (n_frames, height, width, 3) uint8, labels (n_frames,)
    uint8 and masks (n_frames, height, width) bool.
    """
    unknown = [k for k in anomalies if k not in ANOMALY_KINDS]
    if isinstance(anomalies, str) or unknown:
        raise ValueError(f"unknown anomaly kind(s) {unknown or [anomalies]}; choose from {list(ANOMALY_KINDS)}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if width < 32 or height < 32:
        raise ValueError(f"frames must be at least 32x32 pixels, got {width}x{height}")
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")

    scene = _make_scene(seed if scene_seed is None else scene_seed, width, height)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    actors = _plan_pedestrians(rng, scene, n_frames, height, fps)
    for kind in anomalies:
        actors += _plan_anomaly(kind, rng, scene, n_frames, width, height, fps)

    s = scene.scale
    # Illumination flicker: a slow drift plus a little frame-to-frame jitter (about +-1.5 %).
    period = rng.uniform(25, 60) * fps / _REFERENCE_FPS
    gain = 1.0 + 0.01 * np.sin(2 * math.pi * np.arange(n_frames) / period + rng.uniform(0, 2 * math.pi))
    gain += rng.normal(0.0, 0.004, size=n_frames)

    frames = np.empty((n_frames, height, width, 3), np.uint8)
    masks = np.zeros((n_frames, height, width), bool)
    distances = []
    for a in actors:
        step = np.hypot(np.diff(a.x, prepend=np.nan), np.diff(a.y, prepend=np.nan))
        distances.append(np.nancumsum(np.nan_to_num(step)) + rng.uniform(0, a.stride if a.stride < 1e8 else 1))
    coverage = np.zeros((height, width), np.float32)
    for i in range(n_frames):
        canvas = scene.background.copy()
        present = [j for j, a in enumerate(actors) if np.isfinite(actors[j].y[i])]
        for j in sorted(present, key=lambda j: actors[j].y[i]):  # farther (higher) first
            a = actors[j]
            shape = _shape_at(a, i, s, float(distances[j][i]))
            if a.anomalous[i]:
                coverage[:] = 0.0
                _draw(canvas, coverage, float(a.x[i]), float(a.y[i]), shape)
                masks[i] |= coverage > 0.5
            else:
                _draw(canvas, None, float(a.x[i]), float(a.y[i]), shape)
        canvas = canvas * gain[i] + rng.normal(0.0, 2.0, size=canvas.shape)
        frames[i] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)[..., None]
    labels = masks.any(axis=(1, 2)).astype(np.uint8)
    if name is None:
        name = f"synthetic_{seed}_" + ("+".join(anomalies) if anomalies else "normal")
    return SyntheticClip(frames, labels, masks, list(anomalies), float(fps), name)


_README = """# Sample videos (synthetic)

Generated walkway surveillance clips with injected anomalies and exact ground truth, made by
`vadlab/data/synthetic.py`:

    python -c "from vadlab.data.synthetic import write_samples; write_samples('{out}', seed={seed}, n_train={n_train}, n_test={n_test}, n_frames={n_frames})"

(or `python -m vadlab samples --out {out}`). Same seed, same files. Every clip shares one static
scene (one camera, scene seed {seed}): a vertical paved walkway between two lawns, a bench, a lamp
post, a bin and a tree; clips differ only in who walks through. {width}x{height} pixels, {fps:g} fps,
grey (three equal channels), H.264 (crf {crf}), sensor noise ~2 grey levels, slight illumination
flicker. Pedestrians (2-6 visible) walk up and down the walkway at 0.6-1.2 px/frame.

Layout (the generic "folder of videos + labels" layout `vadlab` reads):

    training/train_XX.mp4      normal clips only
    testing/test_XX.mp4        one anomaly kind per clip, normal frames before and after it
    testing/labels.json        {{"test_01": [0, 0, 1, ...]}}: 1 where an anomalous object is visible
    testing/masks/test_XX.npz  key "masks": (T, H, W) bool, the anomalous object's pixels
    testing/kinds.json         {{"test_01": ["fast_object"]}}

Anomaly kinds: fast_object (cyclists / skaters at 3-5x walking speed along the walkway),
large_object (a cart ~8x a person's area), wrong_direction (a person cutting across the lawn,
perpendicular to all normal traffic, near one end of the path, then out along the kerb on the grass),
erratic (a person darting onto the walkway, about it and off again, waving their arms, a new
direction every 2-4 frames at 3-5x walking speed).

| clip | frames | kind | anomalous frames |
|---|---|---|---|
{rows}
"""


def write_normal_clips(out_dir: str | Path, seed: int = 0, n: int = 8, first: int = 101, n_frames: int = 120,
                       *, width: int = 160, height: int = 120, fps: float = 10.0, crf: int = 23) -> Path:
    """Write `n` more NORMAL clips of the scene of `write_samples(seed=seed)` to `out_dir/training/`
    (`normal_XX.mp4`), with clip seeds that `write_samples` never uses (seed * 1000 + first + i):
    unseen normal footage of the same camera, e.g. to calibrate a model trained on the samples
    (`vadlab calibrate --data synthetic:OUT --frames all`)."""
    from vadlab.data.writer import write_video

    out = Path(out_dir)
    (out / "training").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        clip = generate_clip(seed * 1000 + first + i, n_frames=n_frames, width=width, height=height, fps=fps,
                             scene_seed=seed, name=f"normal_{i + 1:02d}")
        write_video(out / "training" / f"normal_{i + 1:02d}.mp4", clip.frames, fps, crf=crf)
    return out


def write_samples(
    out_dir: str | Path,
    seed: int = 0,
    n_train: int = 4,
    n_test: int = 4,
    n_frames: int = 120,
    *,
    width: int = 160,
    height: int = 120,
    fps: float = 10.0,
    crf: int = 23,
) -> Path:
    """Write a small synthetic dataset to `out_dir` and return `out_dir`.

    Layout: training/train_XX.mp4 (normal), testing/test_XX.mp4 (test clip i has anomaly kind
    ANOMALY_KINDS[i % 4]), testing/labels.json, testing/masks/test_XX.npz (key "masks"),
    testing/kinds.json and README.md. All clips share one scene (scene_seed = seed).
    """
    # Imported here, not at module level: encoding is an export concern and data must not depend
    # on export at import time (export sits above data in the dependency order).
    from vadlab.data.writer import write_video

    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, got {n_train}, {n_test}")
    out = Path(out_dir)
    (out / "training").mkdir(parents=True, exist_ok=True)
    (out / "testing" / "masks").mkdir(parents=True, exist_ok=True)
    common = dict(n_frames=n_frames, width=width, height=height, fps=fps, scene_seed=seed)
    rows = []
    for i in range(n_train):
        stem = f"train_{i + 1:02d}"
        clip = generate_clip(seed * 1000 + 1 + i, name=stem, **common)
        write_video(out / "training" / f"{stem}.mp4", clip.frames, fps, crf=crf)
        rows.append(f"| training/{stem}.mp4 | {n_frames} | normal | 0 |")
    labels: dict[str, list[int]] = {}
    kinds: dict[str, list[str]] = {}
    for i in range(n_test):
        stem = f"test_{i + 1:02d}"
        kind = ANOMALY_KINDS[i % len(ANOMALY_KINDS)]
        clip = generate_clip(seed * 1000 + 501 + i, anomalies=(kind,), name=stem, **common)
        write_video(out / "testing" / f"{stem}.mp4", clip.frames, fps, crf=crf)
        np.savez_compressed(out / "testing" / "masks" / f"{stem}.npz", masks=clip.masks)
        labels[stem] = [int(v) for v in clip.labels]
        kinds[stem] = list(clip.anomaly_kinds)
        span = clip.anomalous_span
        where = "none" if span is None else f"{span[0]}-{span[1]} ({int(clip.labels.sum())})"
        rows.append(f"| testing/{stem}.mp4 | {n_frames} | {kind} | {where} |")
    (out / "testing" / "labels.json").write_text(
        "{\n" + ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in labels.items()) + "\n}\n"
    )
    (out / "testing" / "kinds.json").write_text(json.dumps(kinds, indent=2) + "\n")
    (out / "README.md").write_text(
        _README.format(
            out=out.as_posix() if not out.is_absolute() else out.name,
            seed=seed, n_train=n_train, n_test=n_test, n_frames=n_frames,
            width=width, height=height, fps=fps, crf=crf, rows="\n".join(rows),
        )
    )
    return out

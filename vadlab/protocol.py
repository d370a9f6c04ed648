"""The scoring protocol: every choice between a model's error maps and a reported number, as one value.

Benchmark figures in video anomaly detection depend on choices the field often leaves unsaid. A
`Protocol` names them all, and the CLI, the API, the app and the benchmarks pass it around and
write it next to every number they report (`Protocol.describe()`, `Protocol.to_dict()`):

  pooling          how a frame's error map becomes one score:
                   "mean"   the family's own score (frame-mean error, or its PSNR), as the papers;
                   "patch"  the largest mean error over `patch` x `patch` windows (stride patch/2),
                            in model pixels: a small anomalous object is not averaged away;
                   "topk"   the mean of the largest `topk` fraction of pixel errors.
                   Patch and top-k scores are computed in the same scoring pass as the frame mean
                   (`pooled_scores`), so switching protocol never re-runs the model. They exist for
                   families whose score is an error map's mean (score_kind "mse" or "psnr").
  normalize        per video "minmax" (the papers' benchmark protocol; never a verdict on one clip),
                   "calibrated" (against the checkpoint's normal-data calibration; a global
                   monotone map, so it ranks frames exactly as "none"), or "none" (raw scores).
  smooth_sigma     Gaussian smoothing of each video's scores over time, in frames (0 = none).
  drop_undecidable the first frames of a video that no full window covers have no score of their
                   own (they copy the first one, `FrameScores.scored` is False): dropped from the
                   metrics by default, as FFP's reference evaluation does.
  average          the headline average: "micro" (all frames pooled, what most papers report) or
                   "macro" (mean of per-video AUCs). Both are always computed.

`PAPER` is the papers' protocol: frame mean, per-video min-max, no smoothing, undecidable frames
dropped, micro AUC.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import numpy as np

POOLINGS = ("mean", "patch", "topk")
NORMALIZATIONS = ("minmax", "calibrated", "none", "zscore")
AVERAGES = ("micro", "macro")
POOLED_KINDS = ("mse", "psnr")  # score kinds whose score is a pooled error map


class ProtocolError(ValueError):
    """A protocol value that is not one of the known choices."""


@dataclass(frozen=True)
class Protocol:
    pooling: str = "mean"
    patch: int = 16
    topk: float = 0.01
    normalize: str = "minmax"
    smooth_sigma: float = 0.0
    drop_undecidable: bool = True
    average: str = "micro"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ProtocolError(f"unknown pooling '{self.pooling}'; choose one of {', '.join(POOLINGS)}")
        if self.normalize not in NORMALIZATIONS:
            raise ProtocolError(f"unknown normalisation '{self.normalize}'; choose one of {', '.join(NORMALIZATIONS)}")
        if self.average not in AVERAGES:
            raise ProtocolError(f"unknown average '{self.average}'; choose micro or macro")
        if int(self.patch) < 1:
            raise ProtocolError(f"patch size must be >= 1 pixel, got {self.patch}")
        if not 0 < float(self.topk) <= 1:
            raise ProtocolError(f"topk must be a fraction in (0, 1], got {self.topk}")
        if not np.isfinite(self.smooth_sigma) or self.smooth_sigma < 0:
            raise ProtocolError(f"smoothing sigma must be >= 0 frames, got {self.smooth_sigma}")

    @property
    def score_key(self) -> str:
        """The key of the pooled score this protocol reads ("mean", "patch16", "topk0.01")."""
        return pooling_key(self.pooling, self.patch, self.topk)

    @property
    def is_paper(self) -> bool:
        return self == PAPER

    def describe(self) -> str:
        """One line for tables, CSV headers and captions."""
        pool = {"mean": "frame-mean score", "patch": f"max over {self.patch}x{self.patch} patches",
                "topk": f"mean of top {self.topk:g} of pixels"}[self.pooling]
        norm = {"minmax": "per-video min-max", "calibrated": "calibrated on normal data", "none": "no normalisation",
                "zscore": "per-video z-score"}[self.normalize]
        smooth = f"Gaussian smoothing sigma {self.smooth_sigma:g}" if self.smooth_sigma else "no smoothing"
        drop = "undecidable first frames dropped" if self.drop_undecidable else "undecidable first frames kept"
        return f"{pool}, {norm}, {smooth}, {drop}, {self.average} AUC" + (" (paper protocol)" if self.is_paper else "")

    def short(self) -> str:
        """The short string form, e.g. `frame-mean|minmax|s0|drop|micro` or `patch16|none|s3|keep|macro`
        (`Protocol.parse` reads it back)."""
        pool = {"mean": "frame-mean", "patch": f"patch{self.patch}", "topk": f"topk{self.topk:g}"}[self.pooling]
        return f"{pool}|{self.normalize}|s{self.smooth_sigma:g}|{'drop' if self.drop_undecidable else 'keep'}|{self.average}"

    @classmethod
    def parse(cls, text: str) -> "Protocol":
        """A protocol from its short form (`short()`); "paper" is the papers' protocol."""
        if text.strip() == "paper":
            return PAPER
        parts = [p.strip() for p in text.split("|")]
        if len(parts) != 5:
            raise ProtocolError(f"'{text}': expected pooling|normalisation|s<sigma>|drop or keep|micro or macro, "
                                "e.g. frame-mean|minmax|s0|drop|micro")
        pool, norm, sigma, drop, average = parts
        kwargs: dict[str, Any] = {}
        if pool == "frame-mean":
            kwargs["pooling"] = "mean"
        elif pool.startswith("patch") and pool[5:].isdigit():
            kwargs.update(pooling="patch", patch=int(pool[5:]))
        elif pool.startswith("topk"):
            kwargs.update(pooling="topk", topk=float(pool[4:]))
        else:
            raise ProtocolError(f"'{pool}': pooling is frame-mean, patch<size> or topk<fraction>")
        if not sigma.startswith("s"):
            raise ProtocolError(f"'{sigma}': smoothing is written s<sigma>, e.g. s0 or s3")
        if drop not in ("drop", "keep"):
            raise ProtocolError(f"'{drop}': first frames are 'drop' or 'keep'")
        return cls(normalize=norm, smooth_sigma=float(sigma[1:]), drop_undecidable=drop == "drop", average=average,
                   **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "paper": self.is_paper, "short": self.short(),
                "description": self.describe()}

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]]) -> "Protocol":
        if not d:
            return PAPER
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> "Protocol":
        return dataclasses.replace(self, **changes)


PAPER = Protocol()


def pooling_key(pooling: str, patch: int = 16, topk: float = 0.01) -> str:
    if pooling == "mean":
        return "mean"
    if pooling == "patch":
        return f"patch{int(patch)}"
    if pooling == "topk":
        return f"topk{float(topk):g}"
    raise ProtocolError(f"unknown pooling '{pooling}'; choose one of {', '.join(POOLINGS)}")


#: Pooled scores computed in every scoring pass (besides the family's own "mean").
DEFAULT_POOLINGS: tuple[tuple[str, int, float], ...] = (("patch", 8, 0.0), ("patch", 16, 0.0), ("topk", 0, 0.01))


def pooled_scores(error_map, score_kind: str, poolings: Iterable[tuple[str, int, float]] = DEFAULT_POOLINGS) -> dict:
    """Patch / top-k scores of a batch of error maps, in the family's score unit.

    error_map: torch (B, H, W) per-pixel squared error. Returns {key: torch (B,)}: the pooled mean
    squared error for "mse" families, 10*log10 of it (= -PSNR + a constant) for "psnr" families,
    so that higher is more anomalous. Empty for other score kinds.
    """
    import torch
    import torch.nn.functional as F

    if score_kind not in POOLED_KINDS or error_map is None:
        return {}
    em = error_map.float()  # (B, H, W)
    b, h, w = em.shape
    out = {}
    for pooling, patch, topk in poolings:
        if pooling == "patch":
            k = max(1, min(int(patch), h, w))
            pooled = F.avg_pool2d(em[:, None], kernel_size=k, stride=max(1, k // 2)).flatten(1).amax(1)  # (B,)
        elif pooling == "topk":
            n = max(1, int(round(topk * h * w)))
            pooled = em.flatten(1).topk(n, dim=1).values.mean(1)  # (B,)
        else:
            continue
        if score_kind == "psnr":
            pooled = 10.0 * torch.log10(pooled.clamp_min(1e-10))  # (B,) higher = worse prediction
        out[pooling_key(pooling, patch, topk)] = pooled
    return out


def protocol_grid(available_keys: Iterable[str], patch: int = 16, topk: float = 0.01) -> list[Protocol]:
    """The protocols `vadlab eval --protocols` compares: every pooling the scores have x per-video
    min-max or none x smoothing 0 or 3 frames x undecidable frames dropped or kept. The paper
    protocol comes first."""
    keys = set(available_keys)
    poolings = [("mean", patch, topk)]
    if f"patch{patch}" in keys:
        poolings.append(("patch", patch, topk))
    if f"topk{topk:g}" in keys:
        poolings.append(("topk", patch, topk))
    grid = [PAPER]
    for (pool, p, k), norm, sigma, drop in itertools.product(poolings, ("minmax", "none"), (0.0, 3.0), (True, False)):
        proto = Protocol(pooling=pool, patch=p, topk=k, normalize=norm, smooth_sigma=sigma, drop_undecidable=drop)
        if proto != PAPER:
            grid.append(proto)
    return grid

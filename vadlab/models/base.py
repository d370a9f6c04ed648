"""The contract every model family implements (one subclass per file, registered by name).

A family is ONE `nn.Module` holding all its networks (generator, discriminator, encoders, ...) as
children, so that one `state_dict()` is the whole checkpoint, plus buffers for anything learned
after training (e.g. a bank of normal latent codes).

Data contract (see `vadlab.outputs.Batch`):
  * input windows `clip` are (B, C, T, H, W) float in [-1, 1], T = config.window,
    C = config.channels (1 grey or 3 RGB), H x W = config.height x config.width;
  * `target` is (B, C, H, W): the window's last frame for `target="window"` families, the frame
    after the window for `target="next"` (prediction) families;
  * `score_clip` returns a `ClipOutput` whose `score` is higher for more anomalous frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Iterable

import torch
from torch import nn

from vadlab.outputs import Batch, ClipOutput


@dataclass(frozen=True)
class BaseConfig:
    """Fields every family config has (families subclass and add their own)."""

    channels: int = 1
    height: int = 64
    width: int = 64
    window: int = 4
    lr: float = 2e-4
    batch_size: int = 8
    # ---- the training recipe (a preset is a complete recipe: `vadlab train --preset P` alone
    # reproduces a run). These fields never change the network, so a checkpoint saved before they
    # existed loads with their defaults (see RECIPE_FIELDS).
    epochs: int = 10  # passes over the training windows (the CLI's --epochs overrides)
    train_stride: int = 1  # step between training windows (1 = every window)
    lr_schedule: str = "constant"  # "constant" | "cosine" (to 0 at the last step) | "step" (x lr_decay_factor after lr_decay_steps)
    warmup_steps: int = 0  # linear warm-up from 0 over the first steps (any schedule)
    lr_decay_steps: int = 0  # "step" schedule: when the decay happens
    lr_decay_factor: float = 0.1  # "step" schedule: the factor
    train_crop: int = 0  # >0: train on random train_crop x train_crop crops (fully convolutional families only); score whole frames
    model_selection: str = "val_loss"  # the epoch kept: "val_loss" (lowest loss on held-out normal frames) or
    #   "pseudo_anomaly" (highest AUC of held-out normal windows against the same frames played pseudo_skip x
    #   faster: a pseudo-anomaly made from normal data only; never test labels). The sped-up windows need
    #   held-out tails of (window - 1) * pseudo_skip + 1 frames (+ pseudo_skip for prediction families);
    #   with shorter tails the loop falls back to the validation loss (the checkpoint records which ran)
    pseudo_skip: int = 3
    # Training against pseudo-anomalies (Astrid et al., "Learning Not to Reconstruct Anomalies", BMVC
    # 2021): each training window is replaced with this probability by the same place played
    # `pseudo_anomaly_skips` x faster (one drawn per window). Reconstruction families are trained to
    # output the normal-speed window instead (`Batch.reconstruction_target`), prediction families to
    # predict the scene continuing at normal speed (`Batch.target`). 0 = off (the papers' own losses).
    pseudo_anomaly_prob: float = 0.0
    pseudo_anomaly_skips: tuple[int, ...] = (2, 3, 4, 5)


#: Config fields that describe how a model was trained, not what it computes: absent from a
#: checkpoint written before they existed, they take their defaults when it is loaded.
RECIPE_FIELDS = ("epochs", "train_stride", "lr_schedule", "warmup_steps", "lr_decay_steps", "lr_decay_factor", "train_crop",
                 "model_selection", "pseudo_skip", "pseudo_anomaly_prob", "pseudo_anomaly_skips")
MODEL_SELECTIONS = ("val_loss", "pseudo_anomaly")
LR_SCHEDULES = ("constant", "cosine", "step")


def lr_factor(config: BaseConfig, step: int, total_steps: int) -> float:
    """The learning-rate multiplier of a recipe at optimisation step `step` (0-based) of `total_steps`."""
    factor = 1.0
    if config.lr_schedule == "cosine" and total_steps > 0:
        progress = min(1.0, max(0, step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif config.lr_schedule == "step" and config.lr_decay_steps and step >= config.lr_decay_steps:
        factor = config.lr_decay_factor
    elif config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule '{config.lr_schedule}'; choose one of {', '.join(LR_SCHEDULES)}")
    if config.warmup_steps and step < config.warmup_steps:
        factor *= (step + 1) / config.warmup_steps
    return factor


class AnomalyModel(nn.Module):
    """Base class of all families. Subclasses set `config_class` and implement the abstract methods."""

    config_class: ClassVar[type] = BaseConfig
    family: ClassVar[str] = "?"  # set by @register_model

    def __init__(self, config: BaseConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    # ---- training -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers, e.g. {"generator": Adam(...), "discriminator": Adam(...)}."""
        raise NotImplementedError

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """One optimisation step on a batch of normal windows. Returns named losses (floats)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        """A loss on held-out NORMAL training windows, used to pick the best epoch (never test labels).
        Default: mean anomaly score (lower is better for a model of normality)."""
        return float(self.score_clip(batch).score.mean())

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        """Called by the training loop before each epoch (0-based), e.g. to switch training phases."""

    def prepare_for_scoring(self, batches: Iterable[Batch]) -> None:
        """Called once after training with the normal training windows (e.g. to build a latent bank)."""

    # ---- scoring --------------------------------------------------------------------------
    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Differentiable (B,) anomaly score of (clip, target); the quantity Captum attributes."""
        raise NotImplementedError

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        """Score a batch of windows (eval mode, no grad)."""
        raise NotImplementedError

    # ---- helpers --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def input_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one input window."""
        c = self.config
        return (c.channels, c.window, c.height, c.width)


class WindowReconstructor(AnomalyModel):
    """Families that reconstruct the whole input window (conv_ae, st_dcgan, svd_gan).

    Subclasses implement `reconstruct(clip) -> (B, C, T, H, W)`; the score is the squared
    reconstruction error of the window's LAST frame (the scored frame), averaged over pixels and
    channels (MSE, higher = more anomalous); validation loss is the whole window's MSE.
    """

    def reconstruct(self, clip: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def validation_loss(self, batch: Batch) -> float:
        return float((self.reconstruct(batch.clip).float() - batch.clip.float()).pow(2).mean())

    def anomaly_score(self, clip: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        last = self.reconstruct(clip)[:, :, -1].float()  # (B, C, H, W)
        return (last - target.float()).pow(2).flatten(1).mean(1)

    @torch.no_grad()
    def score_clip(self, batch: Batch) -> ClipOutput:
        last = self.reconstruct(batch.clip)[:, :, -1].float()  # (B, C, H, W) reconstruction of the scored frame
        error_map = (last - batch.target.float()).pow(2).mean(1)  # (B, H, W)
        mse = error_map.flatten(1).mean(1)  # (B,)
        return ClipOutput(score=mse, raw=mse, output=last, error_map=error_map)

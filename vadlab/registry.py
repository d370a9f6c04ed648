"""Model registry: family name -> ModelSpec (model class, config class, presets, score kind, paper).

A family registers itself with `@register_model(...)` in its own file under `vadlab/models/`;
`vadlab.models` imports every family module so that `list_models()` sees them all.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal

Target = Literal["window", "next"]


class UnknownModelError(KeyError):
    """A model family or preset name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_class: type
    config_class: type
    presets: dict[str, Any]
    score_kind: str  # "mse", "psnr", "latent_distance", "probability", ...
    target: Target  # "window": scores the last frame of the window; "next": predicts the frame after it
    paper: str
    supervised: bool = False
    summary: str = ""

    def config(self, preset: str = "tiny", **overrides: Any) -> Any:
        """The config of `preset`, with fields replaced by `overrides`."""
        if preset not in self.presets:
            raise UnknownModelError(
                f"model '{self.name}' has no preset '{preset}'; presets: {', '.join(self.presets)}"
            )
        cfg = self.presets[preset]
        return dataclasses.replace(cfg, **overrides) if overrides else cfg


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    presets: dict[str, Any],
    score_kind: str,
    target: Target,
    paper: str,
    supervised: bool = False,
    summary: str = "",
) -> Callable[[type], type]:
    """Class decorator registering an `AnomalyModel` subclass under `name`."""

    def wrap(model_class: type) -> type:
        config_class = model_class.config_class
        for preset_name, cfg in presets.items():
            if not isinstance(cfg, config_class):
                raise TypeError(f"{name}: preset '{preset_name}' is not a {config_class.__name__}")
        if name in _REGISTRY and _REGISTRY[name].model_class is not model_class:
            raise ValueError(f"model family '{name}' registered twice")
        model_class.family = name
        _REGISTRY[name] = ModelSpec(
            name=name,
            model_class=model_class,
            config_class=config_class,
            presets=dict(presets),
            score_kind=score_kind,
            target=target,
            paper=paper,
            supervised=supervised,
            summary=summary or (model_class.__doc__ or "").strip().splitlines()[0],
        )
        return model_class

    return wrap


def _ensure_loaded() -> None:
    import vadlab.models  # noqa: F401  (imports every family module, which registers it)


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise UnknownModelError(
            f"unknown model family '{name}'; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Registered family names, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def create_model(name: str, preset: str = "tiny", config: Any = None, **overrides: Any):
    """Build a model of family `name` from a preset (or an explicit config), with field overrides."""
    spec = get_spec(name)
    if config is None:
        config = spec.config(preset, **overrides)
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    return spec.model_class(config)

"""Config overrides written as text (`--set KEY=VALUE`, `--grid KEY=V1,V2`), next to the registry
whose configs they override (`registry.create_model(name, preset, **overrides)`).

The CLI (`vadlab train --set`), the research tools (`vadlab sweep --grid`, `vadlab cv --set`) and
any other front end read overrides here, so a value means the same thing everywhere.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence


def _parse_scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_value(text: str) -> Any:
    """'3' -> 3, '1e-4' -> 0.0001, 'true' -> True, '32,16,8' -> (32, 16, 8); anything else stays a
    string (so 'rect:0,0,0.5,1' reaches the config's own parser whole)."""
    if "," in text:
        parts = [_parse_scalar(t.strip()) for t in text.split(",")]
        if all(not isinstance(p, str) for p in parts):
            return tuple(parts)
        return text
    return _parse_scalar(text)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """["lr=1e-4", "widths=32,16,8"] -> {"lr": 0.0001, "widths": (32, 16, 8)} (`--set KEY=VALUE ...`)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v.strip())
    return out


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """["lr=1e-4,2e-4", "use_svd_loss=true,false"] -> {"lr": [1e-4, 2e-4], "use_svd_loss": [True, False]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got '{item}'")
        key, values = item.split("=", 1)
        grid[key.strip()] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def recipe_overrides(epochs: Optional[int] = None, batch_size: Optional[int] = None,
                     stride: Optional[int] = None) -> dict[str, Any]:
    """The `--epochs`, `--batch-size` and `--stride` flags as overrides of the model config's recipe
    (`epochs`, `batch_size`, `train_stride`); a flag not given (None, or 0 for a size) keeps the preset's."""
    return {**({} if epochs is None else {"epochs": epochs}), **({"batch_size": batch_size} if batch_size else {}),
            **({"train_stride": stride} if stride else {})}

"""vadlab: GAN-based video anomaly detection you can see and trust.

The public names are re-exported lazily so that `import vadlab` stays cheap (the app imports it
on every page) and never imports Streamlit.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "create_model": "vadlab.registry",
    "list_models": "vadlab.registry",
    "get_spec": "vadlab.registry",
    "load_checkpoint": "vadlab.checkpoint",
    "save_checkpoint": "vadlab.checkpoint",
    "load": "vadlab.api",
    "score_video": "vadlab.api",
    "evaluate": "vadlab.api",
    "train": "vadlab.api",
    "read_video": "vadlab.data.video",
    "load_dataset": "vadlab.data.datasets",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vadlab' has no attribute '{name}'")

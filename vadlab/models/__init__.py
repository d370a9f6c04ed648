"""Model families. Importing this package registers every family (one module each)."""
from importlib import import_module

_FAMILIES = ["conv_ae", "ffp", "st_dcgan", "latent_gan", "lrcn_gan", "valt_gan", "svd_gan"]

for _name in _FAMILIES:
    try:
        import_module(f"vadlab.models.{_name}")
    except ModuleNotFoundError as exc:  # a family still being written; every shipped family exists
        if exc.name != f"vadlab.models.{_name}":
            raise

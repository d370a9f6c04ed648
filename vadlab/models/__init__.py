"""Model families. Importing this package registers every family (one module each)."""
from importlib import import_module

FAMILY_MODULES = ["conv_ae", "ffp", "st_dcgan", "latent_gan", "lrcn_gan", "valt_gan", "svd_gan"]

for _name in FAMILY_MODULES:
    import_module(f"vadlab.models.{_name}")

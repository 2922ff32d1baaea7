"""Models: the ViT encoder, the masked autoencoder and its named sizes.

>>> from mae_lab.models import MaskedAutoencoder, get_preset
>>> model = MaskedAutoencoder(get_preset("mae_micro"))
>>> model.grid, model.num_patches
((4, 4), 16)
"""

from .config import MAEConfig
from .mae import MAEDecoder, MAEOutput, MaskedAutoencoder, Reconstruction, SimMIMHead
from .presets import OFFICIAL_PRESETS, PRESET_NOTES, PRESETS, get_preset, list_presets
from .vit import Attention, Block, Mlp, PatchEmbed, ViTEncoder

__all__ = [
    "OFFICIAL_PRESETS",
    "PRESETS",
    "PRESET_NOTES",
    "Attention",
    "Block",
    "MAEConfig",
    "MAEDecoder",
    "MAEOutput",
    "MaskedAutoencoder",
    "Mlp",
    "PatchEmbed",
    "Reconstruction",
    "SimMIMHead",
    "ViTEncoder",
    "get_preset",
    "list_presets",
]

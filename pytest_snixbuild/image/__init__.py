"""Build outputs as OCI images: Nixery-style layering, reproducible layers, an OCI layout with a
Docker ``manifest.json`` (docs/images.md)."""

from pytest_snixbuild.image.api import ImageInput, ImageResult, LayerResult, build_image
from pytest_snixbuild.image.errors import (
    ImageError,
    ImageInputError,
    ImageOptionError,
    LayerWriteError,
    LayoutVerifyError,
)
from pytest_snixbuild.image.layering import DEFAULT_MAX_LAYERS, LayeringPolicy, plan_layers
from pytest_snixbuild.image.verify import VerifiedImage, verify_layout

__all__ = [
    "DEFAULT_MAX_LAYERS",
    "ImageError",
    "ImageInput",
    "ImageInputError",
    "ImageOptionError",
    "ImageResult",
    "LayerResult",
    "LayerWriteError",
    "LayeringPolicy",
    "LayoutVerifyError",
    "VerifiedImage",
    "build_image",
    "plan_layers",
    "verify_layout",
]

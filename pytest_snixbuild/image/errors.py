"""Errors of the image builder: one family under :class:`ImageError`."""

from __future__ import annotations

from pytest_snixbuild.errors import SnixError


class ImageError(SnixError):
    """Base of every error raised while building or checking an OCI image."""


class ImageInputError(ImageError):
    """The store paths given to the builder cannot form an image (bad path, missing reference,
    duplicate, nested store paths)."""


class ImageOptionError(ImageError):
    """An option of the builder is out of range or malformed (tag, layer budget, workers)."""


class LayerWriteError(ImageError):
    """A layer cannot be written: a blob is missing or does not have its recorded size."""


class LayoutVerifyError(ImageError):
    """An image layout on disk is inconsistent; the message lists every problem found."""

    def __init__(self, layout: str, problems: list[str]) -> None:
        self.layout = layout
        self.problems = list(problems)
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{layout}: invalid OCI image layout: {shown}{more}")

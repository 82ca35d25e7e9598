"""Image and video input/output.

Still images (:mod:`camdeblur.io.image`) are re-exported here; video lives in
:mod:`camdeblur.io.video` (optional extra ``camdeblur[video]``, imported only when used).
"""

from camdeblur.io.image import (
    IMAGE_EXTENSIONS,
    ImageData,
    check_not_input,
    is_image_file,
    list_images,
    natural_key,
    natural_sorted,
    read_image,
    read_rgb,
    to_numpy,
    to_tensor,
    write_image,
    write_like,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageData",
    "check_not_input",
    "is_image_file",
    "list_images",
    "natural_key",
    "natural_sorted",
    "read_image",
    "read_rgb",
    "to_numpy",
    "to_tensor",
    "write_image",
    "write_like",
]

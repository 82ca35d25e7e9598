"""camdeblur: a deblurring model for your own camera, from unpaired blurry and sharp captures.

Heavy submodules load lazily; ``import camdeblur`` is cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_model", "create_model", "list_models", "save_model", "CamdeblurError", "__version__"]


def __getattr__(name: str):
    if name in ("load_model", "create_model", "list_models", "save_model"):
        from camdeblur.nets import registry

        return getattr(registry, name)
    if name == "CamdeblurError":
        from camdeblur.errors import CamdeblurError

        return CamdeblurError
    raise AttributeError(f"module 'camdeblur' has no attribute '{name}'")

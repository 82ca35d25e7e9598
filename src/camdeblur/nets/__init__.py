"""Networks: pure ``nn.Module``s plus a registry of factory functions (official key layouts)."""

from camdeblur.nets.registry import create_model, is_model, list_models, load_model, register_model, save_model

__all__ = ["create_model", "is_model", "list_models", "load_model", "register_model", "save_model"]

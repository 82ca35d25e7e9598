"""Evaluation: full-reference metrics and blur degree (:mod:`camdeblur.eval.metrics`: ``psnr``, ``ssim``,
``laplacian_variance``, named ``PRESETS``) and NIQE with a model file given by path
(:mod:`camdeblur.eval.niqe`). Submodules are imported on use; ``camdeblur eval`` is the command line.

LPIPS and FID are not provided: both need pretrained network weights that cannot be downloaded here.
"""

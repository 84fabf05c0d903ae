"""Sweep points and per-scale grids, one module per part of the book: the only place that wires tasks,
models and the training loop together for a chapter.

``emergence``: the MLP experiments of chapters 5-6 (:func:`mlp_point`, the calibration and prediction
grids, the App. G toy). ``transformer``: the transformer of chapter 7 (:func:`transformer_point`).
A point is ``point(config, *, device, progress)``: ``config`` is what is computed and is hashed into the
cache key; ``device`` and ``progress`` are how it runs, passed by :func:`skillkit.sweeps.run`.
"""
from .emergence import MLPPoint, mlp_point
from .transformer import TransformerPoint, transformer_point

__all__ = ["MLPPoint", "mlp_point", "TransformerPoint", "transformer_point"]

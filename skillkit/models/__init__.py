"""The networks of the book, one module each; this package re-exports them.

``mlp``: :class:`MLPEnsemble`, the paper's 2-layer ReLU MLP as a batched ensemble with a hand-written
backward. ``toy``: :class:`WeightSharedParityNet`, the width-3 weight-shared toy of App. G.
``transformer``: the small transformer of Fig. 4 (one plain model, :class:`ParityTransformer`, and
:func:`SparseParityTransformer`, its ensemble). ``ensemble``: :class:`Ensemble`, many copies of any plain
module trained as one program through ``torch.func``.
"""
from .ensemble import Ensemble
from .mlp import MLPEnsemble
from .toy import WeightSharedParityNet
from .transformer import PAPER_CONFIG, ParityTransformer, SparseParityTransformer, TransformerConfig

__all__ = ["MLPEnsemble", "WeightSharedParityNet", "Ensemble", "ParityTransformer", "SparseParityTransformer",
           "TransformerConfig", "PAPER_CONFIG"]

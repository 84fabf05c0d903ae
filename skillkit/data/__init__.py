"""The tasks of the book, one module each; this package re-exports the contract names.

``parity``: multitask sparse parity (the paper's task), single sparse parity, and the counter-based
:class:`Sampler` that feeds every network trained on them. Later parts add their own tasks here.
"""
from .parity import MultitaskSparseParity, Sampler, SparseParity, probe_set, skill_probs, stream_keys

__all__ = ["MultitaskSparseParity", "SparseParity", "skill_probs", "Sampler", "stream_keys", "probe_set"]

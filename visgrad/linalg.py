"""``vg.linalg``: the vector norm, as ``torch.linalg.vector_norm``."""

from visgrad.engine.ops.norms import vector_norm

__all__ = ["vector_norm"]

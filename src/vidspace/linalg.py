"""Small array helpers shared by the stages."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit L2 norm in ``dtype`` (zero rows stay zero)."""
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)

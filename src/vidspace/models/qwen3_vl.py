"""Qwen3-VL-Embedding (``Qwen/Qwen3-VL-Embedding-2B`` / ``-8B``) through transformers.

As the model card prescribes: each input is a chat — a system turn holding the task
instruction, a user turn holding the video (or the caption) — rendered by the checkpoint's
chat template with the generation prompt; the processor's video path expands the video into
per-frame-pair timestamps ("<1.0 seconds>") and vision tokens; the embedding is the last
hidden state at the last non-padding token, L2-normalised. Videos get the document
instruction ("Represent the user's input."), captions the query instruction.

Frames come from our sampler, not the processor's: ``do_sample_frames=False`` and the
timestamps are the sampled frames' real presentation times (``frame_times`` in
``frames.npz``), so variable frame rates and fps sampling give the model true times.
Per-frame pixels are capped as the reference implementation (qwen-vl-utils) does.
"""

from __future__ import annotations

import logging

import numpy as np

from vidspace.frames import TimedFrames
from vidspace.models.hf_video import _HFBase, load_pretrained

logger = logging.getLogger(__name__)

VIDEO_INSTRUCTION = "Represent the user's input."
TEXT_INSTRUCTION = "Find a video that contains the following visual content."


def last_token(hidden, attention_mask):
    """Hidden state at each row's last attended position (left or right padding)."""
    import torch

    last = attention_mask.shape[1] - 1 - attention_mask.flip(dims=[1]).int().argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class Qwen3VLEmbeddingEncoder(_HFBase):
    kind = "qwen3_vl"
    has_text = True
    wants_times = True  # embed_dataset passes TimedFrames

    def __init__(
        self,
        path: str,
        revision: str | None = None,
        device: str = "cpu",
        max_length: int = 512,
        video_instruction: str = VIDEO_INSTRUCTION,
        text_instruction: str = TEXT_INSTRUCTION,
    ):
        # the processor also writes the prompt: it always runs in the workers
        super().__init__(path, revision, device, max_length, preprocess="workers")
        if getattr(self.processor, "video_processor", None) is None:
            raise ValueError(f"qwen3_vl: the processor in {path} has no video processor")
        if not getattr(self.processor, "chat_template", None):
            raise ValueError(f"qwen3_vl: the processor in {path} has no chat template")
        self.video_instruction, self.text_instruction = video_instruction, text_instruction
        self.dim = int(self.model.config.text_config.hidden_size)

    def _load(self, path: str, revision: str | None):
        from transformers import AutoProcessor, Qwen3VLModel

        # Qwen3VLModel, not ...ForConditionalGeneration: no vocabulary projection is needed
        return load_pretrained(path, revision, self.kind, Qwen3VLModel, AutoProcessor)

    def _prompt(self, instruction: str, content: list[dict]) -> str:
        messages = [
            {"role": "system", "content": [{"type": "text", "text": instruction}]},
            {"role": "user", "content": content},
        ]
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def preprocess_videos(self, clips: TimedFrames | np.ndarray) -> dict:
        from transformers.video_utils import VideoMetadata

        if isinstance(clips, TimedFrames):
            frames, times = clips.frames, clips.times
        else:
            raise TypeError("qwen3_vl needs frame times: pass TimedFrames(frames, times)")
        # timestamps are index / fps: milliseconds as indices keep the real times
        metadata = [
            VideoMetadata(
                total_num_frames=int(round(t[-1] * 1000)) + 1,
                fps=1000.0,
                frames_indices=[int(round(x * 1000)) for x in t],
            )
            for t in times
        ]
        prompt = self._prompt(self.video_instruction, [{"type": "video"}])
        batch = self.processor(
            text=[prompt] * len(frames),
            videos=[np.array(clip) for clip in frames],  # copies: frames may be a memmap
            video_metadata=metadata,
            do_sample_frames=False,
            cap_pixels_per_frame=True,
            padding=True,
            return_tensors="pt",
        )
        return dict(batch)

    def preprocess_texts(self, texts: list[str]) -> dict:
        tokenizer = self.tokenizer
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        long = [i for i, x in enumerate(ids) if len(x) > self.max_length]
        texts = list(texts)
        if long:
            logger.info(
                "qwen3_vl: truncated %d of %d texts to %d tokens",
                len(long),
                len(texts),
                self.max_length,
            )
            for i in long:  # cut the caption, not the chat template around it
                texts[i] = tokenizer.decode(ids[i][: self.max_length])
        prompts = [
            self._prompt(self.text_instruction, [{"type": "text", "text": t}]) for t in texts
        ]
        return dict(self.processor(text=prompts, padding=True, return_tensors="pt"))

    def _forward(self, batch: dict) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode(), self._autocast():
            inputs = self._to_device(batch)
            hidden = self.model(**inputs).last_hidden_state
            pooled = last_token(hidden, inputs["attention_mask"]).float()
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()

    forward_videos = _forward
    forward_texts = _forward

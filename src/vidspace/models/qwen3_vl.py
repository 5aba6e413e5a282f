"""Qwen3-VL-Embedding (``Qwen/Qwen3-VL-Embedding-2B`` / ``-8B``) through transformers,
following the official embedder (QwenLM/Qwen3-VL-Embedding, ``Qwen3VLEmbedder``).

Each input is a chat — a system turn holding the task instruction (a final full stop is
added when it ends without punctuation, as the official one does), a user turn holding the
video (or the caption) — rendered by the checkpoint's chat template with the generation
prompt. Videos go through ``qwen_vl_utils.process_vision_info`` exactly as the official
embedder calls it for a list of frames (at most ``max_frames``, 64, spread evenly; each
frame resized to the qwen-vl-utils bounds: at least 128 and at most 768 merged 32-pixel
tokens per frame, ``total_pixels`` for the clip), then the processor with
``do_resize=False``. The embedding is the last hidden state at the last non-padding token,
L2-normalised. Videos get the document instruction ("Represent the user's input."),
captions the query instruction.

One deliberate deviation: the official frame-list path labels frames as if sampled at
2 fps (timestamps 0, 0.5, 1, ...); here the timestamps are the sampled frames' real
presentation times (``frame_times`` in ``frames.npz``), so the model sees true times. With
frames that were sampled at 2 fps both give the same embedding (tested).
"""

from __future__ import annotations

import logging
import unicodedata

import numpy as np

from vidspace.frames import TimedFrames
from vidspace.models.hf_video import _HFBase, load_pretrained

logger = logging.getLogger(__name__)

VIDEO_INSTRUCTION = "Represent the user's input."
TEXT_INSTRUCTION = "Find a video that contains the following visual content."
# the official embedder's constants (src/models/qwen3_vl_embedding.py)
IMAGE_PATCH_SIZE = 16
MAX_FRAMES = 64
MAX_TOTAL_PIXELS = 10 * 768 * 32 * 32
VIDEO_MAX_LENGTH = 8192


def official_instruction(instruction: str) -> str:
    """As the official embedder: stripped, with a full stop when it ends without one."""
    instruction = instruction.strip()
    if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    return instruction


def official_frame_choice(n: int, max_frames: int) -> np.ndarray:
    """The official ``sample_frames``: every frame up to ``max_frames``, else an even spread."""
    if n <= max_frames:
        return np.arange(n)
    return np.linspace(0, n - 1, max_frames, dtype=int)


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
        max_frames: int = MAX_FRAMES,
        total_pixels: int = MAX_TOTAL_PIXELS,
    ):
        # the processor also writes the prompt: it always runs in the workers
        super().__init__(path, revision, device, max_length, preprocess="workers")
        if getattr(self.processor, "video_processor", None) is None:
            raise ValueError(f"qwen3_vl: the processor in {path} has no video processor")
        if not getattr(self.processor, "chat_template", None):
            raise ValueError(f"qwen3_vl: the processor in {path} has no chat template")
        self.video_instruction = official_instruction(video_instruction)
        self.text_instruction = official_instruction(text_instruction)
        if max_frames < 1 or total_pixels < 1:
            raise ValueError("qwen3_vl: max_frames and total_pixels must be positive")
        self.max_frames, self.total_pixels = int(max_frames), int(total_pixels)
        self.dim = int(self.model.config.text_config.hidden_size)

    @staticmethod
    def unusable_size(height: int, width: int) -> str | None:
        """Why qwen-vl-utils' resize would refuse a frame of this size, or None."""
        from qwen_vl_utils.vision_process import MAX_RATIO

        ratio = max(height, width) / max(1, min(height, width))
        if ratio > MAX_RATIO:
            return (
                f"{width}x{height} px frames have an aspect ratio of {ratio:.0f}, above the "
                f"{MAX_RATIO} the Qwen3-VL recipe (qwen-vl-utils) accepts"
            )
        return None

    def _load(self, path: str, revision: str | None):
        from transformers import AutoProcessor, Qwen3VLModel

        # Qwen3VLModel, not ...ForConditionalGeneration: no vocabulary projection is needed
        return load_pretrained(path, revision, self.kind, Qwen3VLModel, AutoProcessor)

    @staticmethod
    def _messages(instruction: str, content: list[dict]) -> list[dict]:
        return [
            {"role": "system", "content": [{"type": "text", "text": instruction}]},
            {"role": "user", "content": content},
        ]

    def _render(self, messages: list[dict]) -> str:
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def _prompt(self, instruction: str, content: list[dict]) -> str:
        return self._render(self._messages(instruction, content))

    def preprocess_videos(self, clips: TimedFrames | np.ndarray) -> dict:
        from PIL import Image
        from qwen_vl_utils import process_vision_info
        from transformers.video_utils import VideoMetadata

        if isinstance(clips, TimedFrames):
            frames, times = clips.frames, clips.times
        else:
            raise TypeError("qwen3_vl needs frame times: pass TimedFrames(frames, times)")
        conversations, metadata = [], []
        for clip, clip_times in zip(frames, times, strict=True):
            keep = official_frame_choice(len(clip), self.max_frames)
            content = {
                "type": "video",
                "video": [Image.fromarray(np.asarray(clip[i])) for i in keep],
                "total_pixels": self.total_pixels,
            }
            conversations.append(self._messages(self.video_instruction, [content]))
            seconds = [float(clip_times[i]) for i in keep]
            if len(seconds) % 2:  # qwen-vl-utils repeats the last frame to pair the frames
                seconds.append(seconds[-1])
            # timestamps are index / fps: milliseconds as indices keep the real times
            metadata.append(
                VideoMetadata(
                    total_num_frames=int(round(seconds[-1] * 1000)) + 1,
                    fps=1000.0,
                    frames_indices=[int(round(x * 1000)) for x in seconds],
                )
            )
        _, videos, video_kwargs = process_vision_info(
            conversations,
            image_patch_size=IMAGE_PATCH_SIZE,
            return_video_metadata=True,
            return_video_kwargs=True,
        )
        batch = self.processor(
            text=[self._render(c) for c in conversations],
            videos=[video for video, _ in videos],
            video_metadata=metadata,
            truncation=True,
            max_length=VIDEO_MAX_LENGTH,
            padding=True,
            do_resize=False,
            return_tensors="pt",
            **video_kwargs,
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

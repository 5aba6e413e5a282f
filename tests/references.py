"""Reference implementations the tests compare the workflow against (written from the
official code they name, not from ours)."""

from __future__ import annotations

import torch


def official_qwen(qwen):
    """The official embedder's frame-list path (QwenLM/Qwen3-VL-Embedding,
    ``Qwen3VLEmbedder._preprocess_inputs`` and ``process``), one input at a time:
    qwen-vl-utils resizes the frames, the processor runs with ``do_resize=False``, the last
    token's hidden state is normalised. ``times`` replaces its 2 fps frame labels."""
    from PIL import Image
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor, Qwen3VLModel
    from transformers.video_utils import VideoMetadata

    processor = AutoProcessor.from_pretrained(qwen, padding_side="right")
    model = Qwen3VLModel.from_pretrained(qwen).eval()

    def conversation(instruction, content):
        return [
            {"role": "system", "content": [{"type": "text", "text": instruction}]},
            {"role": "user", "content": content},
        ]

    def embed(conversations, **extra):
        text = processor.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=False
        )
        images, video_inputs, video_kwargs = process_vision_info(
            conversations, image_patch_size=16, return_video_metadata=True, return_video_kwargs=True
        )
        videos = metadata = None
        if video_inputs is not None:
            videos, metadata = (list(x) for x in zip(*video_inputs, strict=True))
        if "times" in extra:
            metadata = [
                VideoMetadata(
                    total_num_frames=int(t[-1] * 1000) + 1,
                    fps=1000.0,
                    frames_indices=[int(round(x * 1000)) for x in t],
                )
                for t in extra["times"]
            ]
        inputs = processor(
            text=text,
            images=images,
            videos=videos,
            video_metadata=metadata,
            truncation=True,
            max_length=8192,
            padding=True,
            do_resize=False,
            return_tensors="pt",
            **video_kwargs,
        )
        with torch.inference_mode():
            hidden = model(**inputs).last_hidden_state
        last = inputs["attention_mask"].sum(1) - 1  # right padding
        out = hidden[torch.arange(hidden.shape[0]), last]
        return torch.nn.functional.normalize(out, dim=-1).numpy(), inputs

    def video(frames, instruction="Represent the user's input.", **extra):
        content = {
            "type": "video",
            "video": [Image.fromarray(f) for f in frames],
            "total_pixels": 10 * 768 * 32 * 32,
        }
        return embed([conversation(instruction, [content])], **extra)

    def text(caption, instruction):
        return embed([conversation(instruction, [{"type": "text", "text": caption}])])[0]

    return video, text

"""Randomly initialised checkpoints of the supported families, saved with save_pretrained.

Tests load them through the same ``from_pretrained`` path as real checkpoints (tiny
sizes, offline); the GPU checks build real-size architectures to measure throughput
honestly without downloading weights. Tokenizers are trained locally with ``tokenizers``.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "a red circle moves to the left on a black background",
    "a blue square grows larger against white",
    "the yellow triangle shrinks over a plain gray scene",
    "video of a man cooking pasta in a kitchen",
    "a dog runs across a green field",
] * 20


def train_tokenizer(max_length: int, vocab_size: int = 400):
    """A byte-level BPE tokenizer with <s> ... </s> around each text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<pad>", "<unk>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))],
    )
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=max_length,
    )


# The layout of Qwen's chat template: a system turn, a user turn whose video renders as
# <|vision_start|><|video_pad|><|vision_end|>, and the generation prompt.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}{% else %}"
    "{% for c in message.content %}"
    "{% if c.type == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c.type == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c.type == 'text' %}{{ c.text }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def train_chat_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer with Qwen's special tokens (no template around texts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=QWEN_SPECIAL,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        model_max_length=32768,
    )


def _qwen3_vl(real: bool):
    """(model, processor): Qwen3-VL-Embedding-2B's architecture, or a tiny one."""
    import transformers as tf

    tokenizer = train_chat_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    if real:  # Qwen3-VL-Embedding-2B (config.json of the published checkpoint)
        text = {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "tie_word_embeddings": True,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
        }
        vision = {
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
        }
        video = tf.Qwen3VLVideoProcessor()
    else:
        text = {
            **TINY,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10_000.0,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
        }
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_heads": 2,
            "out_hidden_size": 32,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [1],
        }
        # small pixel budget: 32 x 32 frames stay 32 x 32 (2 x 2 merged tokens a frame pair)
        video = tf.Qwen3VLVideoProcessor(
            size={"shortest_edge": 2 * 32 * 32, "longest_edge": 16 * 64 * 64}
        )
    config = tf.Qwen3VLConfig(
        text_config={
            **text,
            "vocab_size": 151_936 if real else 512,
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    processor = tf.Qwen3VLProcessor(
        image_processor=tf.Qwen2VLImageProcessor(patch_size=16, merge_size=2),
        tokenizer=tokenizer,
        video_processor=video,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return tf.Qwen3VLModel(config), processor


def _text_ids(tokenizer) -> dict:
    return {
        "vocab_size": max(tokenizer.vocab_size, 512),
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


TINY = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}


def build_checkpoint(
    family: str,
    path: str | Path,
    size: str = "tiny",
    image_size: int = 32,
    num_frames: int = 4,
    seed: int = 0,
    patch_size: int = 8,
) -> Path:
    """Save a random ``family`` checkpoint (clip, siglip, xclip, videomae, qwen3_vl) with its
    processor.

    ``size="tiny"`` is for tests (``image_size`` and ``patch_size`` set the vision input;
    the real input sizes with a coarse patch keep them fast); ``size="real"`` uses the
    published architectures
    (CLIP ViT-B/32, SigLIP so400m/14 at 384 px, X-CLIP base/32, VideoMAE base,
    Qwen3-VL-Embedding-2B; the real Qwen vocabulary is replaced by the local tokenizer's).
    """
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    path = Path(path)
    real = size == "real"
    if family in ("clip", "xclip"):
        tokenizer = train_tokenizer(77 if real else 16)
        text = _text_ids(tokenizer) | ({} if real else {**TINY, "max_position_embeddings": 16})
        vision = {} if real else {**TINY, "image_size": image_size, "patch_size": patch_size}
        if family == "clip":
            config = tf.CLIPConfig(
                text_config=text, vision_config=vision, **({} if real else {"projection_dim": 16})
            )
            model = tf.CLIPModel(config)
            s = config.vision_config.image_size
            image = tf.CLIPImageProcessor(
                size={"shortest_edge": s}, crop_size={"height": s, "width": s}
            )
            processor = tf.CLIPProcessor(image_processor=image, tokenizer=tokenizer)
        else:
            extra = (
                {}
                if real
                else {"projection_dim": 16, "prompt_layers": 1, "prompt_num_attention_heads": 2}
            )
            vision = vision | (
                {"num_frames": 8}
                if real
                else {
                    "num_frames": num_frames,
                    "mit_hidden_size": 16,
                    "mit_intermediate_size": 37,
                    "mit_num_hidden_layers": 1,
                    "mit_num_attention_heads": 2,
                }
            )
            config = tf.XCLIPConfig(text_config=text, vision_config=vision, **extra)
            model = tf.XCLIPModel(config)
            s = config.vision_config.image_size
            image = tf.VideoMAEImageProcessor(
                size={"shortest_edge": s}, crop_size={"height": s, "width": s}
            )
            processor = tf.XCLIPProcessor(image_processor=image, tokenizer=tokenizer)
    elif family == "siglip":
        so400m = {
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
        }
        tokenizer = train_tokenizer(64 if real else 16)
        text = _text_ids(tokenizer) | (
            {**so400m, "max_position_embeddings": 64}
            if real
            else {**TINY, "max_position_embeddings": 16}
        )
        vision = (
            {**so400m, "image_size": 384, "patch_size": 14}
            if real
            else {**TINY, "image_size": image_size, "patch_size": patch_size}
        )
        config = tf.SiglipConfig(text_config=text, vision_config=vision)
        model = tf.SiglipModel(config)
        s = config.vision_config.image_size
        image = tf.SiglipImageProcessor(size={"height": s, "width": s})
        processor = tf.SiglipProcessor(image_processor=image, tokenizer=tokenizer)
    elif family == "qwen3_vl":
        model, processor = _qwen3_vl(real)
    elif family == "videomae":
        config = tf.VideoMAEConfig(
            **(
                {}
                if real
                else {
                    **TINY,
                    "image_size": image_size,
                    "patch_size": patch_size,
                    "num_frames": num_frames,
                }
            )
        )
        model = tf.VideoMAEModel(config)
        s = config.image_size
        processor = tf.VideoMAEImageProcessor(
            size={"shortest_edge": s}, crop_size={"height": s, "width": s}
        )
    else:
        raise ValueError(f"no random checkpoint recipe for {family!r}")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path

"""A deterministic synthetic video-caption dataset that needs no network.

Each clip is an H.264 mp4 of a coloured shape moving on a plain background. Its category
is the motion; its captions are paraphrases naming colour, shape, motion and background.
Everything follows from the seed, so two runs write byte-identical tables and equal
frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pandas as pd

from vidspace.datasets.tables import DownloadResult

logger = logging.getLogger(__name__)

COLORS = {
    "red": (215, 35, 35),
    "green": (40, 170, 60),
    "blue": (45, 75, 225),
    "yellow": (240, 215, 40),
    "purple": (145, 55, 195),
    "orange": (250, 135, 25),
}
BACKGROUNDS = {
    "black": (12, 12, 12),
    "gray": (125, 125, 125),
    "white": (240, 240, 240),
}
SHAPES = ("circle", "square", "triangle")
MOTIONS = {
    "left": ("moves to the left", "slides leftward", "travels from right to left"),
    "right": ("moves to the right", "slides rightward", "travels from left to right"),
    "up": ("moves up", "rises upward", "travels from bottom to top"),
    "down": ("moves down", "falls downward", "travels from top to bottom"),
    "grow": ("grows larger", "expands", "gets bigger"),
    "shrink": ("shrinks", "gets smaller", "contracts"),
}
TEMPLATES = (
    "a {color} {shape} {motion} on a {bg} background",
    "on a {bg} backdrop, a {color} {shape} {motion}",
    "video of a {shape} in {color} that {motion} against {bg}",
    "the {color} {shape} {motion} over a plain {bg} scene",
    "a {bg} screen where a {color} {shape} {motion}",
)


def _shape_mask(shape: str, cx: float, cy: float, r: float, yy: np.ndarray, xx: np.ndarray):
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    if shape == "square":
        return (np.abs(xx - cx) <= r * 0.9) & (np.abs(yy - cy) <= r * 0.9)
    # isosceles triangle pointing up, inscribed in the same box
    top, bottom = cy - r, cy + r
    half_width = (yy - top) / (2 * r) * r
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)


def render_clip(
    color: str,
    shape: str,
    motion: str,
    background: str,
    rng: np.random.Generator,
    size: int,
    num_frames: int,
) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of one clip."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    bg = np.array(BACKGROUNDS[background], dtype=np.float32)
    fg = np.array(COLORS[color], dtype=np.float32)
    r0 = size * rng.uniform(0.12, 0.18)
    travel = size * rng.uniform(0.45, 0.6)
    cx0, cy0 = size * rng.uniform(0.4, 0.6), size * rng.uniform(0.4, 0.6)
    texture = rng.normal(0.0, 6.0, size=(size, size, 1)).astype(np.float32)
    for t in range(num_frames):
        a = t / max(1, num_frames - 1) - 0.5  # -0.5 .. 0.5
        cx, cy, r = cx0, cy0, r0
        if motion == "left":
            cx = cx0 - a * travel
        elif motion == "right":
            cx = cx0 + a * travel
        elif motion == "up":
            cy = cy0 - a * travel
        elif motion == "down":
            cy = cy0 + a * travel
        elif motion == "grow":
            r = r0 * (1.0 + 1.6 * (a + 0.5))
        elif motion == "shrink":
            r = r0 * (2.6 - 1.6 * (a + 0.5))
        mask = _shape_mask(shape, cx, cy, r, yy, xx)[..., None]
        img = np.where(mask, fg, bg) + texture
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


# BT.601 limited range ("TV" levels), what H.264 decoders assume for untagged SD video, in
# the classic 8-bit fixed-point form: coefficients scaled by 256, a rounding offset, >> 8.
_LUMA = (66, 129, 25)
_CHROMA_U = (-38, -74, 112)
_CHROMA_V = (112, -94, -18)


def _weighted(r: np.ndarray, g: np.ndarray, b: np.ndarray, coefficients) -> np.ndarray:
    cr, cg, cb = coefficients
    return cr * r + cg * g + cb * b


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """One RGB frame (H, W, 3) uint8 as the planar yuv420p layout (H * 3 / 2, W) uint8.

    Integer arithmetic only, every step elementwise, so the result cannot depend on
    summation order, SIMD width or BLAS threads::

        Y = ((66 R + 129 G + 25 B + 128) >> 8) + 16
        U = ((sum over the 2x2 block of (-38 R - 74 G + 112 B)) + 512) >> 10) + 128
        V = ((sum over the 2x2 block of (112 R - 94 G - 18 B)) + 512) >> 10) + 128

    i.e. chroma is the rounded integer mean of each 2x2 block. Y lies in [16, 235] and
    U, V in [16, 240] for every input, so nothing needs clipping.
    """
    h, w, _ = frame.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs an even width and height, got {w}x{h}")
    r, g, b = (frame[..., c].astype(np.int32) for c in range(3))
    luma = ((_weighted(r, g, b, _LUMA) + 128) >> 8) + 16

    def chroma(coefficients) -> np.ndarray:
        per_pixel = _weighted(r, g, b, coefficients)
        block = (per_pixel[0::2, 0::2] + per_pixel[0::2, 1::2] + per_pixel[1::2, 0::2]) + per_pixel[
            1::2, 1::2
        ]
        return ((block + 512) >> 10) + 128

    planes = [luma.reshape(-1), chroma(_CHROMA_U).reshape(-1), chroma(_CHROMA_V).reshape(-1)]
    return np.concatenate(planes).astype(np.uint8).reshape(h * 3 // 2, w)


# x264's hand-written assembly (its AVX-512 kernels on CPUs that have them, and some AVX2
# ones) reads memory that nothing has written: with the same frames, the bytes then
# depend on what the heap held before (glibc's MALLOC_PERTURB_ changes them at will), and
# so on the process's history (BLAS threads, temporaries, a print). The portable C path
# reads none, and gives the same bytes on every CPU; for clips this small it costs little.
X264_OPTIONS = {"crf": "20", "preset": "veryfast", "threads": "1", "x264-params": "asm=0"}


def write_mp4(path: Path, frames: np.ndarray, fps: int, gop: int | None = None) -> None:
    """Encode frames (T, H, W, 3) uint8 as H.264 yuv420p mp4 (keyframe every ``gop``).

    Byte-identical output for the same frames, on any machine and whatever ran before in
    the process: the colour conversion is ours (:func:`rgb_to_yuv420p`, integer only)
    and x264 runs its C code (:data:`X264_OPTIONS`) on one thread.
    """
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = dict(X264_OPTIONS)
        if gop:
            stream.options |= {"g": str(gop), "keyint_min": str(gop)}
        for frame in frames:
            yuv = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
            for packet in stream.encode(yuv):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate(
    video_dir: str | Path,
    seed: int = 0,
    n_videos: int = 120,
    captions_per_video: int = 3,
    num_frames: int = 16,
    size: int = 96,
    fps: int = 8,
    train_fraction: float = 0.5,
    n_corrupt: int = 0,
) -> DownloadResult:
    """Write ``n_videos`` clips into ``video_dir`` and return the tables.

    ``n_corrupt`` clips (the last ones) are written as truncated files that no decoder
    can read: they exercise the failure path exactly as a broken download would.
    """
    if n_videos < 2 or captions_per_video < 1 or num_frames < 1 or size < 16:
        raise ValueError(
            f"synthetic: need n_videos >= 2, captions_per_video >= 1, num_frames >= 1, "
            f"size >= 16; got {n_videos}, {captions_per_video}, {num_frames}, {size}"
        )
    if not 0 <= n_corrupt < n_videos:
        raise ValueError(f"synthetic: n_corrupt must be in [0, {n_videos}), got {n_corrupt}")
    video_dir = Path(video_dir)
    video_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_train = int(round(train_fraction * n_videos))
    split_of = np.array(["test"] * n_videos, dtype=object)
    split_of[rng.permutation(n_videos)[:n_train]] = "train"
    motions = list(MOTIONS)
    rows, captions = [], []
    for i in range(n_videos):
        video_id = f"synth{i:05d}"
        color = rng.choice(list(COLORS))
        shape = rng.choice(SHAPES)
        motion = motions[i % len(motions)]  # balanced categories
        background = rng.choice(list(BACKGROUNDS))
        clip_rng = np.random.default_rng([seed, i])
        path = video_dir / f"{video_id}.mp4"
        frames = render_clip(color, shape, motion, background, clip_rng, size, num_frames)
        tmp = path.with_name(f".{path.name}.tmp.mp4")
        write_mp4(tmp, frames, fps)
        if i >= n_videos - n_corrupt:
            data = tmp.read_bytes()
            tmp.write_bytes(data[: max(16, len(data) // 10)][::-1])
        tmp.replace(path)
        rows.append(
            {
                "video_id": video_id,
                "path": str(path),
                "category": motion,
                "split": split_of[i],
                "start": np.nan,
                "end": np.nan,
            }
        )
        templates = rng.permutation(len(TEMPLATES))
        for k in range(captions_per_video):
            text = TEMPLATES[templates[k % len(TEMPLATES)]].format(
                color=color,
                shape=shape,
                motion=MOTIONS[motion][rng.integers(len(MOTIONS[motion]))],
                bg=background,
            )
            captions.append(
                {"caption_id": f"{video_id}#{k}", "video_id": video_id, "caption": text}
            )
    logger.info("synthetic: wrote %d clips (%d corrupt) to %s", n_videos, n_corrupt, video_dir)
    return DownloadResult(pd.DataFrame(rows), pd.DataFrame(captions))

"""Frame sampling: one frame store per dataset x sampling, shared by every model
(:mod:`.decode` reads clips, :mod:`.stage` runs the stage, :mod:`.store` is the format)."""

from vidspace.frames.decode import (
    BACKENDS,
    DEFAULT_MAX_SIDE,
    Clip,
    bound_size,
    fps_indices,
    read_clip,
    uniform_indices,
)
from vidspace.frames.stage import merge_frame_parts, sample_frames
from vidspace.frames.store import (
    FrameStore,
    TimedFrames,
    load_frame_times,
    load_frames,
    save_frames,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_SIDE",
    "Clip",
    "FrameStore",
    "TimedFrames",
    "bound_size",
    "fps_indices",
    "load_frame_times",
    "load_frames",
    "merge_frame_parts",
    "read_clip",
    "sample_frames",
    "save_frames",
    "uniform_indices",
]

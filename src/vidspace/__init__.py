"""vidspace: what a video-text embedding model really learned."""

__version__ = "0.1.0"

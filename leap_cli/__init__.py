"""LEAP: video-grounded action programs for egocentric video, as Unix filters over JSONL."""

__version__ = "0.1.0"

"""Loading and running models: diffusers pipelines (hub id or local dir, offline-safe, batch-invariant) and
the tiny random ones built offline, Ultralytics YOLO (load, predict, offline environment), CLIP.

Nothing here knows about datasets or the study. May import ``idg.core`` only (not ``idg.data``, its peer).
"""

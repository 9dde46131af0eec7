"""Loading and running models: diffusers pipelines of the SDXL, SD 1.x/2.x and FLUX.1 families (hub id or local
dir, offline-safe, batch-invariant; checks before weights load, prompt encoding per family, schedulers, LoRAs)
and the tiny random ones built offline, Ultralytics YOLO (load, predict, offline environment), CLIP, and the
open-vocabulary labellers (OWLv2, Grounding DINO) with their tiny random twins.

Nothing here knows about datasets or the study. May import ``idg.core`` only (not ``idg.data``, its peer).
"""

"""Datasets as files: real datasets (reading, validating, class mapping, subsets per fraction and seed),
the prototype's CSV inputs, and the formats idg writes and reads (YOLO, COCO, the typed manifest records).

May import ``idg.core`` only (not ``idg.models``, its peer, nor anything above).
"""

"""The usefulness study: detector training, fine-tuning and evaluation (Ultralytics), the arms x real
fractions x seeds, resume keys, statistics (t-intervals, seed-paired deltas), and the seam-shortcut rate.

May import ``idg.core``, ``idg.data``, ``idg.models`` and ``idg.generate``; never the report.
"""

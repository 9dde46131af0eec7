"""The generation engine and its parts: background sources, box samplers, painters (diffusion inpainting,
copy-paste), the autolabel generator (labelled whole images) and its label cache, blending and the two seam
terms, the judge (quality checks and verifiers), the background cache, the seam-shortcut set, the sets of a
study (one per real subset where they depend on it), and the merge of sharded generations. ``parts.py``
names the interfaces; ``engine.py`` orders them.

May import ``idg.core``, ``idg.data`` and ``idg.models``; never the study or the report.
"""

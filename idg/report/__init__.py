"""What a run shows: the self-describing run dir (config, run.json, metrics.json), the sample grid, the
results tables and plot, Weights & Biases (a listener of the study's events), and ``idg.compare``.

May import every layer below it (core, data, models, generate, study); only the entry points import it.
"""

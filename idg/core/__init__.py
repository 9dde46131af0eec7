"""The foundation every layer stands on: config schemas, errors, the run-dir layout, crash-safe writes,
seeds, content hashes, the reuse-or-refuse rule for keyed outputs, the stage table, the event bus for
listeners (W&B), secrets and Hydra overrides.

Imports only the standard library, numpy, PyYAML, OmegaConf and Hydra — never another idg package.
"""

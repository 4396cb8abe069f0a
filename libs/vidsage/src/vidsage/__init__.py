"""vidsage shared library: the contracts (:mod:`vidsage.contracts`), settings, logging, bus, storage,
catalog, cache, runtime, health, media."""

__version__ = "0.1.0"

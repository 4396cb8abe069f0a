"""vidsage shared library: the contracts (:mod:`vidsage.contracts`), settings, logging, bus, storage,
catalog, cache, runtime, the worker-stage skeleton (:mod:`vidsage.stage`), compute, health, media."""

__version__ = "0.1.0"

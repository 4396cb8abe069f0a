"""vidsage shared library: settings, logging, events, bus, storage, catalog, cache, media."""

__version__ = "0.1.0"

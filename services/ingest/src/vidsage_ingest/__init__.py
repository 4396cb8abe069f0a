"""vidsage ingest: probe, thumbnail and 16 kHz mono audio for every uploaded video."""

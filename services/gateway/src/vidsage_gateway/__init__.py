"""vidsage gateway: the public REST API (upload, list, stream, delete, thumbnail, status)."""

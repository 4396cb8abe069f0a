"""vidsage transcriber: faster-whisper transcripts of every ingested video."""

"""vidsage indexer: embeddings, vector store and search."""

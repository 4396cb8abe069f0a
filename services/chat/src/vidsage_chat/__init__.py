"""vidsage chat: grounded chat answers with citations."""

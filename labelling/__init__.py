"""Who spoke when: speech detection, window embeddings, clustering and matching of long recordings (no HTTP)."""

"""`vomid score`: bulk embeddings straight from Triton (cached on disk), trial scoring, EER/minDCF, DET curves."""

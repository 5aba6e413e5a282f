"""Analyses of the embeddings: spectra, clustering (with DEC), quality against dimension,
temporal pooling, the cost of each variant."""

"""The samples stage: design spaces and budgets as config files (spaces, budgets, distributions), their
exact sizes (cardinality, network_count), the vectorized candidate generator (candidates) and the
rejection sampler that draws a samples table (sampler)."""

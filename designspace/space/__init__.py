"""The samples stage: design spaces and budgets as config files (the space format and its validation: schema; a
file's defaults chain: compose; spaces by name and Table 1: spaces; budgets; distributions), their exact sizes
(cardinality, network_count), the vectorized candidate generator (candidates) and the rejection sampler that draws
a samples table (sampler)."""

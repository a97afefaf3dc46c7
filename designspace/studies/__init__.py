"""Studies that drive every stage: the paper's progression (reproduce, reproduce_report) and refining a
space from a trained sweep (refine)."""

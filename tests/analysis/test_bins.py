"""How many complexity bins a normalized EDF gets."""

from __future__ import annotations


def test_normalized_edf_bins_follow_the_smallest_space():
    """The tour's 20 models get 4 bins (5 per bin on average), not 10; under 10 models, no normalized EDF."""
    import numpy as np
    import pandas as pd

    import designspace.analysis as an

    def table(n: int) -> pd.DataFrame:
        rng = np.random.default_rng(0)
        return pd.DataFrame({"space": "a", "model_id": [f"{i:012x}" for i in range(n)], "status": "ok",
                             "error": rng.uniform(10, 40, n), "flops": rng.uniform(1e6, 2e6, n),
                             "params": rng.uniform(1e5, 2e5, n)})

    a = an.Analysis(table(20))
    assert a.bins == 4
    weights = a.normalized_edf("flops")
    assert weights["F"].diff().max() <= 1 / (4 * 1) + 1e-12  # no model weighs more than a whole bin's share
    assert an.Analysis(table(200)).bins == 10 and an.Analysis(table(9)).bins == 1

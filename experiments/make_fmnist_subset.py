"""Make the bundled Fashion-MNIST subset (designspace/training/bundled/fashion_mnist) from the full set.

    python experiments/make_fmnist_subset.py [--source /usr/share/datasets/fashion-mnist] [--train 10000] [--test 2000]

Draws a class-balanced random subset (seed 0) of each split, keeps the original order, and writes
the four standard idx files gzip-compressed (mtime 0, so reruns give identical bytes). The full set
comes from Debian's `dataset-fashion-mnist` package or https://github.com/zalandoresearch/fashion-mnist.
Fashion-MNIST is (c) 2017 Zalando SE, MIT licence (see LICENSE beside the bundled files).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from designspace.training.data import (
    BUNDLED_FASHION_MNIST,
    FMNIST_FILES,
    SYSTEM_FASHION_MNIST,
    find_idx,
    read_idx,
    write_idx,
)


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of n examples, n / classes from each class, drawn at random, in original order."""
    classes = np.unique(labels)
    if n % len(classes):
        raise SystemExit(f"subset size {n} is not a multiple of the {len(classes)} classes")
    rng = np.random.default_rng(seed)
    per_class = n // len(classes)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SYSTEM_FASHION_MNIST)
    parser.add_argument("--out", type=Path, default=BUNDLED_FASHION_MNIST)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    files = {key: find_idx(args.source, name) for key, name in FMNIST_FILES.items()}
    missing = [FMNIST_FILES[k] for k, v in files.items() if v is None]
    if missing:
        raise SystemExit(f"{args.source} lacks {missing}: install dataset-fashion-mnist or pass --source DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", args.train), ("test", args.test)):
        images, labels = read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"])
        idx = balanced_subset(labels, n, args.seed + (split == "test"))
        for key, array in ((f"{split}_images", images[idx]), (f"{split}_labels", labels[idx])):
            path = write_idx(args.out / f"{FMNIST_FILES[key]}.gz", array)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            print(f"{path}  {array.shape}  {path.stat().st_size / 1e6:.2f} MB  sha256:{digest}")


if __name__ == "__main__":
    main()

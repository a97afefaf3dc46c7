"""Datasets: the idx / CIFAR / image-folder readers on small files written here, validation, the
bundled Fashion-MNIST subset, and the tensor augmentation (checked against a brute-force search)."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from designspace.training import data as data_mod
from designspace.training.data import (
    BUNDLED_FASHION_MNIST,
    SYSTEM_FASHION_MNIST,
    DatasetConfig,
    DatasetError,
    from_tensors,
    load_dataset,
    read_idx,
    write_idx,
)
from tests.helpers.train import REPO, bundled_fmnist, make_image_folder

FMNIST = {"name": "fashion_mnist", "format": "idx", "resolution": 28, "channels": 1, "num_classes": 10,
          "mean": [0.286], "std": [0.353]}


def _write_fmnist(root: Path, n_train: int = 40, n_test: int = 20, side: int = 28, gz: bool = True,
                  label_max: int = 9, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, label_max + 1, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, label_max + 1, n_test, dtype=np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(root / (f"{name}.gz" if gz else name), array)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_gz_or_raw(tmp_path: Path, gz: bool) -> None:
    arrays = _write_fmnist(tmp_path, gz=gz)
    raw_header = (tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))).read_bytes()
    assert (raw_header[:2] == b"\x1f\x8b") == gz
    if not gz:  # the idx layout by hand: magic 0x00000803, then big-endian dims
        assert raw_header[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 28, 0, 0, 0, 28])
    ds = load_dataset({**FMNIST, "root": str(tmp_path)})
    assert ds.root == str(tmp_path) and ds.train_size == 40 and ds.test_size == 20
    assert ds.train.images.shape == (40, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert np.array_equal(ds.train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"].astype(np.int64))


def test_missing_dataset_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        load_dataset({**FMNIST, "root": str(missing)})
    msg = str(err.value)
    assert str(missing) in msg and "dataset.root" in msg and "train-images-idx3-ubyte" in msg
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz"):
        load_dataset({"name": "cifar10", "format": "cifar", "root": str(missing), "mean": [0.5] * 3, "std": [0.2] * 3})
    with pytest.raises(DatasetError, match="one folder per class"):
        load_dataset({"name": "imagenet", "format": "imagefolder", "root": str(missing), "resolution": 224,
                      "mean": [0.5] * 3, "std": [0.2] * 3})


def test_partial_idx_folder_names_the_missing_file(tmp_path: Path) -> None:
    _write_fmnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_dataset({**FMNIST, "root": str(tmp_path)})


def test_corrupt_files_are_caught(tmp_path: Path) -> None:
    _write_fmnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    payload = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(payload[:-100]))  # truncated data behind a valid header
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_dataset({**FMNIST, "root": str(tmp_path)})
    path.write_bytes(path.read_bytes()[:1000])  # a cut-off gzip stream
    with pytest.raises(DatasetError, match="corrupt"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x0d\x03" + payload[4:])  # float data type
    with pytest.raises(DatasetError, match="not unsigned byte"):
        read_idx(path)


def test_wrong_shapes_and_label_ranges_are_caught(tmp_path: Path) -> None:
    _write_fmnist(tmp_path / "big", side=32)
    with pytest.raises(DatasetError, match=r"1x32x32 .* resolution=28"):
        load_dataset({**FMNIST, "root": str(tmp_path / "big")})
    _write_fmnist(tmp_path / "labels", label_max=12, n_train=200)
    with pytest.raises(DatasetError, match=r"labels span \[0, 1[0-2]\] but num_classes=10"):
        load_dataset({**FMNIST, "root": str(tmp_path / "labels")})
    with pytest.raises(DatasetError, match="1x8x8 .* channels=3"):
        from_tensors("x", torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4), torch.zeros(2, 1, 8, 8,
                     dtype=torch.uint8), torch.zeros(2), 2, channels=3, mean=[0.5] * 3, std=[0.2] * 3)
    with pytest.raises(ValueError, match="mean needs 3 value"):
        DatasetConfig.from_dict({**FMNIST, "channels": 3})


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown key.*'rooot'"):
        DatasetConfig.from_dict({**FMNIST, "rooot": "/x"})


def _write_cifar(root: Path, per_batch: int = 6, seed: int = 0) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    batches = {}
    for name in (*data_mod.CIFAR_TRAIN, data_mod.CIFAR_TEST):
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(x) for x in rng.integers(0, 10, per_batch)], b"batch_label": name.encode()}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    return batches


def test_cifar_pickle_batches(tmp_path: Path) -> None:
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    cfg = {"name": "cifar10", "format": "cifar", "root": str(tmp_path), "resolution": 32, "channels": 3,
           "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    ds = load_dataset(cfg)  # root is the parent: the loader finds cifar-10-batches-py/
    assert ds.train_size == 30 and ds.test_size == 6 and ds.num_classes == 10
    row = batches["data_batch_2"][b"data"][1]  # CIFAR rows: 1024 red, 1024 green, 1024 blue, row-major
    img = ds.train.images[6 + 1]
    for c, y, x in [(0, 0, 0), (1, 5, 7), (2, 31, 30)]:
        assert int(img[c, y, x]) == int(row[c * 1024 + y * 32 + x])
    assert ds.test.labels.tolist() == batches["test_batch"][b"labels"]


def test_cifar_reader_refuses_foreign_pickles(tmp_path: Path) -> None:
    import os

    root = tmp_path / "c"
    _write_cifar(root)

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, ("echo pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DatasetError, match="not allowed"):
        load_dataset({"name": "cifar10", "format": "cifar", "root": str(root), "mean": [0.5] * 3, "std": [0.2] * 3})


def test_image_folder(tmp_path: Path) -> None:
    make_image_folder(tmp_path)
    cfg = {"name": "imagefolder", "format": "imagefolder", "root": str(tmp_path), "resolution": 16,
           "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3, "workers": 0}
    ds = load_dataset(cfg)
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    assert ds.train_size == 6 and ds.test_size == 4  # notes.txt is not an image
    loader = ds.loader("cpu")
    x, y = next(loader.test_batches(4))
    assert x.shape == (4, 3, 16, 16) and y.tolist() == [0, 0, 1, 1]
    raw = x * 0.5 * 255 + 0.5 * 255  # undo the normalisation
    # center crop of a left-coloured / right-black image: left columns coloured, right ones black
    assert raw[0, 0, :, 1].min() > 200 and raw[0, 0, :, -2].max() < 30
    assert raw[2, 2, :, 1].min() > 200 and raw[2, 0, :, 1].max() < 30  # dog: blue, not red
    a = [b[0] for b in loader.train_batches(2, seed=0, epoch=0)]
    b = [b[0] for b in loader.train_batches(2, seed=0, epoch=0)]
    c = [b[0] for b in loader.train_batches(2, seed=0, epoch=1)]
    assert len(a) == 3 and all(torch.equal(u, v) for u, v in zip(a, b))
    assert not all(torch.equal(u, v) for u, v in zip(a, c))
    with pytest.raises(DatasetError, match="num_classes=5"):
        load_dataset({**cfg, "num_classes": 5})


def test_image_folder_with_workers(tmp_path: Path) -> None:
    make_image_folder(tmp_path)
    cfg = {"name": "imagefolder", "format": "imagefolder", "root": str(tmp_path), "resolution": 16,
           "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3}
    serial = load_dataset({**cfg, "workers": 0}).loader("cpu")
    parallel = load_dataset({**cfg, "workers": 2}).loader("cpu")
    for (xa, ya), (xb, yb) in zip(serial.train_batches(2, 3, 1), parallel.train_batches(2, 3, 1), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_bundled_subset() -> None:
    ds = load_dataset(bundled_fmnist())
    assert ds.root == str(BUNDLED_FASHION_MNIST)
    assert (ds.train_size, ds.test_size) == (10_000, 2_000)
    assert torch.bincount(ds.train.labels).tolist() == [1000] * 10
    assert torch.bincount(ds.test.labels).tolist() == [200] * 10
    assert (BUNDLED_FASHION_MNIST / "LICENSE").read_text().count("MIT") >= 1
    size = sum(p.stat().st_size for p in BUNDLED_FASHION_MNIST.glob("*.gz"))
    assert 2e6 < size < 8e6


FULL_SETS = [p for p in (data_mod.user_data_dir() / "fashion_mnist", SYSTEM_FASHION_MNIST)
             if (p / "t10k-images-idx3-ubyte.gz").is_file()]


@pytest.mark.skipif(not FULL_SETS, reason="the full Fashion-MNIST is not there (`make data` unpacks it)")
def test_bundled_subset_is_real_fashion_mnist() -> None:
    full = read_idx(FULL_SETS[0] / "t10k-images-idx3-ubyte.gz")
    full_labels = read_idx(FULL_SETS[0] / "t10k-labels-idx1-ubyte.gz")
    index = {hashlib.sha1(img.tobytes()).digest(): int(lab) for img, lab in zip(full, full_labels)}
    ds = load_dataset(bundled_fmnist())
    for img, lab in zip(ds.test.images[:, 0].numpy(), ds.test.labels.tolist()):
        assert index[hashlib.sha1(img.tobytes()).digest()] == lab


def test_default_root_prefers_full_set_then_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {**bundled_fmnist(), "root": None}
    monkeypatch.delenv(data_mod.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data_mod, "SYSTEM_FASHION_MNIST", tmp_path / "not-installed")
    assert load_dataset(cfg).root == str(BUNDLED_FASHION_MNIST)
    _write_fmnist(tmp_path / "xdg" / "designspace" / "fashion_mnist", seed=1)  # where `make data` unpacks
    assert load_dataset(cfg).root == str(tmp_path / "xdg" / "designspace" / "fashion_mnist")
    _write_fmnist(tmp_path / "fashion_mnist")
    monkeypatch.setenv(data_mod.DATA_ENV, str(tmp_path))
    assert load_dataset(cfg).root == str(tmp_path / "fashion_mnist")


def test_fashion_mnist_on_a_32px_canvas(tmp_path: Path) -> None:
    arrays = _write_fmnist(tmp_path)
    ds = load_dataset({**FMNIST, "root": str(tmp_path), "resolution": 32})
    images = ds.train.images[:, 0].numpy()
    assert images.shape == (40, 32, 32)
    assert np.array_equal(images[:, 2:30, 2:30], arrays["train-images-idx3-ubyte"])
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not images[:, border].any()
    with pytest.raises(DatasetError, match="1x28x28 .* resolution=24"):
        load_dataset({**FMNIST, "root": str(tmp_path), "resolution": 24})
    shipped = yaml.safe_load((REPO / "configs" / "dataset" / "fashion_mnist_32.yaml").read_text())
    assert (shipped["resolution"], shipped["stem_stride"]) == (32, 1)


def _tiny_set(pad: int, flip: bool) -> data_mod.Dataset:
    g = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (64, 2, 6, 6), generator=g, dtype=torch.uint8)
    return from_tensors("t", imgs, torch.arange(64) % 3, imgs[:10], torch.arange(10) % 3, 3,
                        crop_padding=pad, flip=flip, mean=[0.2, 0.4], std=[0.3, 0.1])


def test_tensor_augmentation_is_a_padded_crop_or_its_mirror() -> None:
    ds = _tiny_set(pad=2, flip=True)
    loader = ds.loader("cpu")
    mean = torch.tensor([0.2, 0.4]).view(1, 2, 1, 1) * 255
    std = torch.tensor([0.3, 0.1]).view(1, 2, 1, 1) * 255
    padded = torch.nn.functional.pad(ds.train.images, (2, 2, 2, 2))
    keys, crops = [], []  # every crop of every padded training image, and its mirror
    for dy in range(5):
        for dx in range(5):
            window = padded[:, :, dy:dy + 6, dx:dx + 6]
            for f in (False, True):
                crops.append(window.flip(-1) if f else window)
                keys += [(i, dy, dx, f) for i in range(64)]
    crops = torch.cat(crops)
    seen_flip = seen_shift = False
    batches = list(loader.train_batches(16, seed=5, epoch=2))
    assert len(batches) == 4
    for x, y in batches:
        assert x.is_contiguous(memory_format=torch.channels_last) and x.dtype == torch.float32
        raw = (x * std + mean).round().to(torch.uint8)
        for img, label in zip(raw, y):
            hits = torch.nonzero((crops == img).flatten(1).all(1)).flatten().tolist()
            assert hits, "augmented image is no crop of any padded training image"
            i, dy, dx, f = keys[hits[0]]
            assert int(label) == i % 3
            seen_flip |= f
            seen_shift |= (dy, dx) != (2, 2)
    assert seen_flip and seen_shift
    order = [int(y) for _, ys in batches for y in ys]
    again = [int(y) for _, ys in loader.train_batches(16, seed=5, epoch=2) for y in ys]
    assert order == again


def test_no_augmentation_and_test_batches_are_the_images() -> None:
    ds = _tiny_set(pad=0, flip=False)
    loader = ds.loader("cpu")
    mean = torch.tensor([0.2, 0.4]).view(1, 2, 1, 1) * 255
    std = torch.tensor([0.3, 0.1]).view(1, 2, 1, 1) * 255
    xs = torch.cat([x for x, _ in loader.test_batches(4)])
    assert torch.equal((xs * std + mean).round().to(torch.uint8), ds.test.images)
    x, _ = next(loader.train_batches(64, seed=0, epoch=0))
    got = sorted(((x * std + mean).round().to(torch.uint8)).flatten(1).tolist())
    assert got == sorted(ds.train.images.flatten(1).tolist())  # a permutation of the training set


def test_subsets_are_fixed_and_drop_last_batch() -> None:
    ds = _tiny_set(pad=0, flip=False)
    a, b = ds.subset(train=20, test=5), ds.subset(train=20, test=5)
    assert torch.equal(a.train.images, b.train.images) and a.train_size == 20 and a.test_size == 5
    assert a.loader("cpu").train_steps(8) == 2
    assert len(list(a.loader("cpu").train_batches(8, 0, 0))) == 2


def test_jpeg_draft_decoding_matches_full_decoding(tmp_path: Path) -> None:
    from PIL import Image

    from designspace.training.data import center_box, decode_crop

    yy, xx = np.mgrid[0:600, 0:800]
    arr = np.stack([xx * 255 // 800, yy * 255 // 600, (xx + yy) * 255 // 1400], -1).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(arr).save(path, quality=95)
    fast = np.asarray(decode_crop(str(path), 32, "RGB", lambda size: center_box(size, 32)), dtype=float)
    with Image.open(path) as im:
        full = np.asarray(im.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR,
                                                   box=center_box(im.size, 32)), dtype=float)
    assert fast.shape == (32, 32, 3) and np.abs(fast - full).mean() < 3.0
    # the central 525-pixel square (0.875 x 600) spans columns 137.5..662.5: red from ~46 to ~209
    assert 40 < fast[:, 0, 0].mean() < 52 and 200 < fast[:, -1, 0].mean() < 215

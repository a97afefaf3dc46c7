"""Datasets for short-schedule training: Fashion-MNIST (idx), CIFAR-10 (pickle batches), image folders.

Small datasets live in memory as uint8 tensors (moved once to the training device) and are augmented
on tensors per batch: pad-and-random-crop and horizontal flip, drawn from a generator seeded by
(seed, epoch), so an epoch's batches are the same on every run and on resume. Image folders
(ImageNet and the like) are decoded by Pillow in DataLoader worker processes.

Every loader validates what it reads (shapes, dtypes, label ranges, split sizes) and raises
`DatasetError` - naming where it looked and how to provide the data - before any training starts.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designspace.util.usage import UserError
from designspace.util.validation import check_field_types, reject_unknown_keys

BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"
BUNDLED_FASHION_MNIST = BUNDLED_ROOT / "fashion_mnist"
"""The embedded 10k-train / 2k-test Fashion-MNIST subset (MIT, Zalando), made by experiments/make_fmnist_subset.py."""

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's `dataset-fashion-mnist` package installs the full set."""

DATA_ENV = "DESIGNSPACE_DATA"
"""If set, root=null looks for a dataset in $DESIGNSPACE_DATA/<name> first."""


def user_data_dir() -> Path:
    """Where `make data` unpacks datasets: $XDG_DATA_HOME/designspace (default ~/.local/share/designspace)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "designspace"


FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
SUBSET_SEED = 0
"""Train/test subsets are drawn with this fixed seed, so every model of a sweep sees the same images."""

Batch = tuple[torch.Tensor, torch.Tensor]


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or inconsistent with its config."""


@dataclass(frozen=True)
class DatasetConfig:
    """One `configs/dataset/*.yaml`: where the data is, what it is, and how it is augmented."""

    name: str
    format: str  # idx | cifar | imagefolder
    root: str | None = None
    resolution: int = 32
    channels: int = 3
    num_classes: int | None = None  # None: inferred (image folders only)
    stem_stride: int | None = None  # None: 1 for resolution <= 64, else 2
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    crop_padding: int = 0  # in-memory sets: pad by this and crop back at random (0: off)
    flip: bool = True  # random horizontal flip of training images
    workers: int = 4  # image folders: DataLoader worker processes
    min_scale: float = 0.08  # image folders: random-resized-crop area range [min_scale, 1]
    test_crop_ratio: float = 0.875  # image folders: test images resized to resolution / ratio, center-cropped

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> DatasetConfig:
        reject_unknown_keys(cfg, (f.name for f in fields(cls)), "dataset config")
        kwargs = dict(cfg)
        for key in ("mean", "std"):
            if key in kwargs:
                kwargs[key] = tuple(float(v) for v in kwargs[key])
        out = cls(**kwargs)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise UserError naming every field of the wrong type or range (workers=-1, stem_stride=0, num_classes=0)."""
        what = f"dataset {self.name!r}"
        check_field_types(self, what)
        if self.format not in LOADERS:
            raise UserError(f"{what}: format={self.format!r}; known: {sorted(LOADERS)}")
        checks = [
            ("resolution", self.resolution >= 1), ("channels", self.channels >= 1),
            ("num_classes", self.num_classes is None or self.num_classes >= 2),
            ("stem_stride", self.stem_stride is None or self.stem_stride >= 1), ("crop_padding", self.crop_padding >= 0),
            ("workers", self.workers >= 0), ("min_scale", 0 < self.min_scale <= 1),
            ("test_crop_ratio", 0 < self.test_crop_ratio <= 1),
        ]
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise UserError(f"{what}: invalid {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")
        for key in ("mean", "std"):
            if len(getattr(self, key)) != self.channels:
                raise UserError(f"{what}: {key} needs {self.channels} value(s), got {getattr(self, key)}")
        if min(self.std) <= 0:
            raise UserError(f"{what}: std must be > 0, got {self.std}")

    @property
    def effective_stem_stride(self) -> int:
        if self.stem_stride is not None:
            return int(self.stem_stride)
        return 1 if self.resolution <= 64 else 2


@dataclass
class Split:
    """One split held in memory: images uint8 (N, C, H, W), labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int | None, seed: int = SUBSET_SEED) -> Split:
        """A fixed random subset of n examples (all of them when n is None or >= len)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f"subset size must be >= 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].sort().values
        return Split(self.images[idx], self.labels[idx])


@dataclass
class Dataset:
    """A dataset ready for training: both splits, its config and the resolved root."""

    config: DatasetConfig
    root: str
    train: Any  # Split, or an image-folder sample list
    test: Any
    num_classes: int
    classes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def stem_stride(self) -> int:
        return self.config.effective_stem_stride

    @property
    def train_size(self) -> int:
        return len(self.train)

    @property
    def test_size(self) -> int:
        return len(self.test)

    def info(self) -> dict[str, Any]:
        """What a result record stores about the data."""
        return {
            "name": self.name, "root": self.root, "resolution": self.resolution, "channels": self.channels,
            "num_classes": self.num_classes, "stem_stride": self.stem_stride,
            "train_size": self.train_size, "test_size": self.test_size,
        }

    def subset(self, train: int | None = None, test: int | None = None) -> Dataset:
        """The same dataset restricted to fixed random subsets of its splits."""
        return Dataset(self.config, self.root, _subset(self.train, train), _subset(self.test, test),
                       self.num_classes, self.classes)

    def loader(self, device: torch.device | str = "cpu") -> BatchLoader:
        if isinstance(self.train, Split):
            return TensorLoader(self, torch.device(device))
        return FolderLoader(self, torch.device(device))


def _subset(split: Any, n: int | None) -> Any:
    if isinstance(split, Split):
        return split.subset(n)
    if n is None or n >= len(split):
        return split
    g = torch.Generator().manual_seed(SUBSET_SEED)
    idx = torch.randperm(len(split), generator=g)[:n].sort().values.tolist()
    return [split[i] for i in idx]


# --------------------------------------------------------------------------------------------
# Loading


def load_dataset(cfg: DatasetConfig | Mapping[str, Any]) -> Dataset:
    """Find, read and validate a dataset; raises DatasetError saying where it looked and what to do."""
    if not isinstance(cfg, DatasetConfig):
        cfg = DatasetConfig.from_dict(cfg)
    ds = LOADERS[cfg.format](cfg)
    if isinstance(ds.train, Split):
        for split_name in ("train", "test"):
            _validate_split(ds, split_name, getattr(ds, split_name))
    return ds


def _candidates(cfg: DatasetConfig, defaults: Sequence[Path]) -> list[Path]:
    if cfg.root is not None:
        return [Path(os.path.expanduser(str(cfg.root)))]
    out = []
    if os.environ.get(DATA_ENV):
        out.append(Path(os.environ[DATA_ENV]) / cfg.name)
    out.append(user_data_dir() / cfg.name)
    return out + list(defaults)


def _load_idx_dataset(cfg: DatasetConfig) -> Dataset:
    defaults = [SYSTEM_FASHION_MNIST, BUNDLED_FASHION_MNIST] if cfg.name == "fashion_mnist" else []
    looked = _candidates(cfg, defaults)
    for root in looked:
        files = {key: find_idx(root, name) for key, name in FMNIST_FILES.items()}
        if all(files.values()):
            break
        if cfg.root is not None and any(files.values()):
            missing = [FMNIST_FILES[k] for k, v in files.items() if v is None]
            raise DatasetError(f"{cfg.name}: {root} holds some idx files but lacks {missing} (.gz or raw)")
    else:
        names = ", ".join(f"{n}[.gz]" for n in FMNIST_FILES.values())
        where = ", ".join(str(p) for p in looked) or "(nowhere: dataset.root is null and no default applies)"
        hint = (" (Fashion-MNIST: in a clone, `make data` unpacks Debian's full set into "
                f"{user_data_dir() / 'fashion_mnist'} without root (from pip: `apt-get download dataset-fashion-mnist` "
                "and `dpkg -x` the file, then copy its usr/share/datasets/fashion-mnist/*.gz there); `apt-get install dataset-fashion-mnist` installs it in "
                f"{SYSTEM_FASHION_MNIST}; or download the files from https://github.com/zalandoresearch/fashion-mnist;"
                " or leave dataset.root=null to use the bundled subset)") if cfg.name == "fashion_mnist" else ""
        raise DatasetError(
            f"{cfg.name}: dataset not found. Looked in: {where}; expected the four idx files {names}. "
            f"Provide it with dataset.root=DIR pointing at a folder holding them{hint}."
        )
    arrays = {key: read_idx(path) for key, path in files.items()}
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise DatasetError(
                f"{cfg.name}: {files[f'{split}_images']} must hold (N, H, W) images and "
                f"{files[f'{split}_labels']} (N,) labels; got shapes {images.shape} and {labels.shape}"
            )
        images = _pad_to(images, cfg.resolution)
        splits[split] = Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
    return Dataset(cfg, str(root), splits["train"], splits["test"], 10 if cfg.num_classes is None else cfg.num_classes)


def _pad_to(images: np.ndarray, resolution: int) -> np.ndarray:
    """Centre (N, H, W) images on a zero canvas of resolution x resolution (28px Fashion-MNIST at 32px).

    At 32px with stem stride 1 every stage's map is the ImageNet one (56/28/14/7) divided by 3.5, so each
    stage's share of the flops is ImageNet's; at 28px stages 3-4 run on 4x4 and 2x2 (ceil of 3.5, 1.75)
    and cost 31% more than the scaling says (experiments/results/proxy_design/geometry.md).
    """
    h, w = images.shape[1:]
    if h >= resolution or w >= resolution:  # as large already: the split validator judges the shape
        return images
    top, left = (resolution - h) // 2, (resolution - w) // 2
    out = np.zeros((images.shape[0], resolution, resolution), dtype=images.dtype)
    out[:, top:top + h, left:left + w] = images
    return out


def find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (gzip-compressed or raw) of unsigned bytes into an array of its shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); the file is corrupt - replace it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an idx file (bad magic number {raw[:4].hex()})")
    if raw[2] != 0x08:
        raise DatasetError(f"{path}: idx data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise DatasetError(f"{path}: truncated idx header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise DatasetError(
            f"{path}: idx header says shape {shape} ({expected} bytes) but the file has {len(raw)} bytes; "
            "it is truncated or corrupt - replace it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts of numpy arrays) and refuses any other global."""

    ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles spell bytes
            return super().find_class(module, name)
        if module.split(".")[0] == "numpy" and name in self.ALLOWED:
            if module.startswith("numpy.core") and hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core"):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch -> images uint8 (N, 3, 32, 32), labels int64 (N,)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"])
        labels = batch.get(b"labels", batch.get("labels"))
        if labels is None:
            raise KeyError("labels")
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from None
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{path}: expected uint8 data of shape (N, 3072) and N labels; got {data.dtype} {data.shape} "
            f"and {labels.shape[0]} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(cfg: DatasetConfig) -> Dataset:
    looked = _candidates(cfg, [])
    for base in looked:
        for root in (base, base / "cifar-10-batches-py"):
            if all((root / n).is_file() for n in (*CIFAR_TRAIN, CIFAR_TEST)):
                train = [read_cifar_batch(root / n) for n in CIFAR_TRAIN]
                images = np.concatenate([t[0] for t in train])
                labels = np.concatenate([t[1] for t in train])
                test_images, test_labels = read_cifar_batch(root / CIFAR_TEST)
                return Dataset(
                    cfg, str(root),
                    Split(torch.from_numpy(images), torch.from_numpy(labels)),
                    Split(torch.from_numpy(test_images), torch.from_numpy(test_labels)),
                    10 if cfg.num_classes is None else cfg.num_classes,
                )
    where = ", ".join(str(p) for p in looked) or f"(nowhere: dataset.root is null and ${DATA_ENV} is unset)"
    raise DatasetError(
        f"{cfg.name}: dataset not found. Looked in: {where} (and its cifar-10-batches-py/) for "
        f"{', '.join(CIFAR_TRAIN)} and {CIFAR_TEST}. Provide it: download and unpack "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and pass dataset.root=DIR."
    )


def _validate_split(ds: Dataset, split_name: str, split: Split) -> None:
    cfg = ds.config
    images, labels = split.images, split.labels
    where = f"{cfg.name} ({split_name} split at {ds.root})"
    if len(split) == 0:
        raise DatasetError(f"{where}: the split is empty")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DatasetError(f"{where}: images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    n, c, h, w = images.shape
    if n != labels.shape[0]:
        raise DatasetError(f"{where}: {n} images but {labels.shape[0]} labels")
    if c != cfg.channels or h != cfg.resolution or w != cfg.resolution:
        raise DatasetError(
            f"{where}: images are {c}x{h}x{w} (channels x height x width) but the config says "
            f"channels={cfg.channels}, resolution={cfg.resolution}"
        )
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= ds.num_classes:
        raise DatasetError(f"{where}: labels span [{lo}, {hi}] but num_classes={ds.num_classes}")


# --------------------------------------------------------------------------------------------
# Image folders


def _load_imagefolder(cfg: DatasetConfig) -> Dataset:
    looked = _candidates(cfg, [])
    for root in looked:
        train_dir = root / "train"
        test_dir = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
        if train_dir.is_dir() and test_dir is not None:
            break
    else:
        where = ", ".join(str(p) for p in looked) or "(nowhere: dataset.root is null)"
        raise DatasetError(
            f"{cfg.name}: dataset not found. Looked in: {where} for train/<class>/*.jpg and val/<class>/*.jpg "
            "(or test/). Provide it with dataset.root=DIR holding one folder per class in train/ and val/."
        )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"{cfg.name}: {train_dir} has no class folders")
    if cfg.num_classes is not None and cfg.num_classes != len(classes):
        raise DatasetError(f"{cfg.name}: {train_dir} has {len(classes)} class folders but num_classes={cfg.num_classes}")
    train = _scan(train_dir, classes, cfg.name)
    test = _scan(test_dir, classes, cfg.name)
    return Dataset(cfg, str(root), train, test, len(classes), classes)


def _scan(split_dir: Path, classes: list[str], name: str) -> list[tuple[str, int]]:
    index = {c: i for i, c in enumerate(classes)}
    extra = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and p.name not in index)
    if extra:
        raise DatasetError(f"{name}: {split_dir} has class folders {extra[:5]} that train/ lacks")
    samples = [
        (str(path), index[c])
        for c in classes if (split_dir / c).is_dir()
        for path in sorted((split_dir / c).iterdir())
        if path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not samples:
        raise DatasetError(f"{name}: no images ({', '.join(IMAGE_EXTENSIONS)}) under {split_dir}")
    return samples


class ImageFiles(torch.utils.data.Dataset):
    """Decodes (path, label) samples with Pillow into uint8 (C, R, R) tensors.

    Items are (index, epoch) pairs, so a training crop is drawn from an RNG seeded by
    (seed, epoch, index): the same on every run, whatever the number of workers.
    """

    def __init__(self, samples: list[tuple[str, int]], cfg: DatasetConfig, train: bool, seed: int = 0) -> None:
        self.samples, self.cfg, self.train, self.seed = samples, cfg, train, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: tuple[int, int] | int) -> tuple[torch.Tensor, int]:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        path, label = self.samples[index]
        r = self.cfg.resolution
        rng = np.random.default_rng([self.seed, epoch, index]) if self.train else None
        try:
            im = decode_crop(path, r, "RGB" if self.cfg.channels == 3 else "L",
                             lambda size: train_box(size, rng, self.cfg.min_scale) if rng is not None
                             else center_box(size, r, self.cfg.test_crop_ratio))
        except Exception as exc:
            raise DatasetError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from None
        arr = np.asarray(im, dtype=np.uint8)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if rng is not None and self.cfg.flip and rng.random() < 0.5:
            arr = arr[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(arr)), label


Box = tuple[float, float, float, float]


def decode_crop(path: str, size: int, mode: str, box_of: Any) -> Any:
    """Decode `path` and resize the region box_of((width, height)) to size x size.

    JPEGs are decoded at a reduced scale (Pillow's draft mode) when the region stays at least
    size x size pixels, which makes decoding large images several times cheaper.
    """
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
        x0, y0, x1, y1 = box_of((width, height))
        if im.format == "JPEG":
            need = (math.ceil(width * size / max(x1 - x0, 1e-6)), math.ceil(height * size / max(y1 - y0, 1e-6)))
            im.draft(mode, (min(width, need[0]), min(height, need[1])))
        sx, sy = im.size[0] / width, im.size[1] / height
        im = im.convert(mode)
        return im.resize((size, size), Image.Resampling.BILINEAR, box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy))


def train_box(image_size: tuple[int, int], rng: np.random.Generator, min_scale: float = 0.08) -> Box:
    """Inception-style random crop: area in [min_scale, 1] of the image, aspect ratio in [3/4, 4/3]."""
    width, height = image_size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return (x, y, x + w, y + h)
    side = min(width, height)
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


def center_box(image_size: tuple[int, int], size: int, crop_ratio: float = 0.875) -> Box:
    """The central square that is size x size once the shorter side is resized to size / crop_ratio."""
    width, height = image_size
    side = min(width, height) * min(1.0, crop_ratio)
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


LOADERS = {"idx": _load_idx_dataset, "cifar": _load_cifar, "imagefolder": _load_imagefolder}


# --------------------------------------------------------------------------------------------
# Batches


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator that fixes an epoch's order and augmentation."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch)) % (2**63))


class BatchLoader:
    """Yields normalized float batches (channels_last) on the device; subclasses fetch the uint8 data."""

    def __init__(self, ds: Dataset, device: torch.device) -> None:
        self.ds, self.device = ds, device
        cfg = ds.config
        shape = (1, cfg.channels, 1, 1)
        self.mean = torch.tensor([m * 255 for m in cfg.mean], device=device).view(shape)
        self.inv_std = torch.tensor([1 / (s * 255) for s in cfg.std], device=device).view(shape)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().sub_(self.mean).mul_(self.inv_std)
        return x.contiguous(memory_format=torch.channels_last)

    def train_steps(self, batch_size: int) -> int:
        """Training steps per epoch (the last partial batch is dropped)."""
        return self.ds.train_size // batch_size

    def train_batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[Batch]:
        raise NotImplementedError

    def test_batches(self, batch_size: int) -> Iterator[Batch]:
        raise NotImplementedError


class TensorLoader(BatchLoader):
    """Batches from in-memory uint8 tensors kept on the device; augmentation on tensors."""

    def __init__(self, ds: Dataset, device: torch.device) -> None:
        super().__init__(ds, device)
        pad = ds.config.crop_padding
        train = ds.train.images
        if pad > 0:
            train = torch.nn.functional.pad(train, (pad, pad, pad, pad))
        self.pad = pad
        self.train_images = train.to(device)
        self.train_labels = ds.train.labels.to(device)
        self.test_images = ds.test.images.to(device)
        self.test_labels = ds.test.labels.to(device)
        r = ds.resolution
        self.arange = torch.arange(r, device=device)

    def train_batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[Batch]:
        n, steps = self.ds.train_size, self.train_steps(batch_size)
        g = epoch_generator(seed, epoch)
        order = torch.randperm(n, generator=g)[: steps * batch_size].to(self.device)
        span = 2 * self.pad + 1
        offsets = torch.randint(0, span, (2, n), generator=g).to(self.device)
        flips = (torch.rand(n, generator=g) < 0.5).to(self.device) if self.ds.config.flip else None
        for step in range(steps):
            idx = order[step * batch_size: (step + 1) * batch_size]
            x = self.train_images.index_select(0, idx)
            if self.pad or flips is not None:
                x = self._crop_flip(x, offsets[:, idx], None if flips is None else flips[idx])
            yield self.normalize(x), self.train_labels.index_select(0, idx)

    def _crop_flip(self, x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor | None) -> torch.Tensor:
        """Per-sample crop of the padded images at `offsets` (mirrored where `flips`), as one gather."""
        b, c, _, padded_w = x.shape
        ar = self.arange
        r = ar.numel()
        rows = offsets[0, :, None] + ar  # (B, R)
        cols = ar.expand(b, -1) if flips is None else torch.where(flips[:, None], ar.flip(0), ar)
        cols = offsets[1, :, None] + cols
        index = (rows[:, :, None] * padded_w + cols[:, None, :]).view(b, 1, r * r).expand(b, c, r * r)
        return torch.gather(x.reshape(b, c, -1), 2, index).view(b, c, r, r)

    def test_batches(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, self.ds.test_size, batch_size):
            yield (self.normalize(self.test_images[start: start + batch_size]),
                   self.test_labels[start: start + batch_size])


class _EpochSampler(torch.utils.data.Sampler):
    def __init__(self, n: int, steps: int, batch_size: int, seed: int, epoch: int) -> None:
        self.n, self.count, self.seed, self.epoch = n, steps * batch_size, seed, epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch))[: self.count]
        return ((int(i), self.epoch) for i in order)

    def __len__(self) -> int:
        return self.count


class FolderLoader(BatchLoader):
    """Batches decoded by Pillow in DataLoader worker processes (ImageNet-style folders)."""

    def _loader(self, files: ImageFiles, batch_size: int, sampler: Any) -> torch.utils.data.DataLoader:
        workers = self.ds.config.workers
        return torch.utils.data.DataLoader(
            files, batch_size=batch_size, sampler=sampler, num_workers=workers,
            pin_memory=self.device.type == "cuda", drop_last=False,
            persistent_workers=False, prefetch_factor=4 if workers > 0 else None,
        )

    def train_batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[Batch]:
        files = ImageFiles(self.ds.train, self.ds.config, train=True, seed=seed)
        sampler = _EpochSampler(self.ds.train_size, self.train_steps(batch_size), batch_size, seed, epoch)
        for x, y in self._loader(files, batch_size, sampler):
            yield self.normalize(x), y.to(self.device, non_blocking=True)

    def test_batches(self, batch_size: int) -> Iterator[Batch]:
        files = ImageFiles(self.ds.test, self.ds.config, train=False)
        for x, y in self._loader(files, batch_size, None):
            yield self.normalize(x), y.to(self.device, non_blocking=True)


def from_tensors(
    name: str,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    **config: Any,
) -> Dataset:
    """A validated in-memory dataset from uint8 tensors (synthetic data, benchmarks, tests)."""
    c, r = int(train_images.shape[1]), int(train_images.shape[-1])
    defaults = {"resolution": r, "channels": c, "mean": (0.5,) * c, "std": (0.25,) * c}
    cfg = DatasetConfig.from_dict({"name": name, "format": "idx", "num_classes": num_classes, **defaults, **config})
    ds = Dataset(cfg, "<memory>", Split(train_images, train_labels.long()), Split(test_images, test_labels.long()),
                 num_classes)
    for split_name in ("train", "test"):
        _validate_split(ds, split_name, getattr(ds, split_name))
    return ds


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write a uint8 array as an idx file (gzip when the name ends in .gz), reproducibly (mtime 0)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
            gz.write(payload)
        payload = buf.getvalue()
    path.write_bytes(payload)
    return path

"""QMUL V1 benchmark loading: sketches, photo edge maps, splits, human triplets, attributes."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .files import cached_sha256

CATEGORIES: Final = ("shoes", "chairs", "handbags")
RETRIEVAL_CATEGORIES: Final = ("shoes", "chairs")
DATA_ENV: Final = "FGSBIR_DATA"
VALIDATION_SHARE: Final = 0.2  # share of training pairs held out for every model choice


class DataError(RuntimeError):
    """The data root is missing, incomplete or corrupted; the message names the file."""


def check_folder_readable(path: str | os.PathLike) -> None:
    """A DataError naming the folder when it exists but cannot be listed (permissions), where
    the later checks would report a file in it that the user never had, or "no photos"."""
    path = Path(path).expanduser()
    try:
        with os.scandir(path):
            pass
    except (PermissionError, NotADirectoryError) as exc:
        if path.is_dir() or isinstance(exc, PermissionError):
            raise DataError(f"Cannot read the folder {path}: {exc.strerror or exc}.") from exc
    except FileNotFoundError:
        pass  # said by the caller, which knows what it wanted there


def is_photo_folder(path: str | os.PathLike) -> bool:
    """A folder that is not a benchmark data root: the user's own photos, to be indexed as a
    catalogue. A data root has a SHA256SUMS listing benchmark files (even before they are all
    fetched) or one of the benchmark's own files (a photo folder may well have subfolders called
    shoes/ or chairs/, or a SHA256SUMS of its photos)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return False
    try:
        if any(_is_benchmark_file(name) for name in known_digests(path)):
            return False
    except (OSError, UnicodeDecodeError):
        pass  # an unreadable SHA256SUMS says nothing either way
    return not any((path / c / f"{c}_annotation.json").exists() or any((path / c).glob(f"{c}_*_db_*.mat"))
                   for c in CATEGORIES)


def _is_benchmark_file(relative: str) -> bool:
    """One of the benchmark's own files, by name: shoes/shoes_annotation.json, chairs/chairs_edge_db_test.mat, ..."""
    parts = relative.split("/")
    return (len(parts) == 2 and parts[0] in CATEGORIES and parts[1].startswith(f"{parts[0]}_")
            and parts[1].endswith((".json", ".mat")))


def fetched_data_root() -> Path | None:
    """Where `fgsbir data fetch qmul-v1` puts the benchmark by default, if it is there."""
    from .fetch import default_data_dir  # (fetch imports this module)

    fetched = default_data_dir()
    return fetched if (fetched / "shoes").is_dir() else None


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The data root from the argument, else $FGSBIR_DATA, else where `fgsbir data fetch qmul-v1`
    puts it by default (when it is there), else a clear error."""
    root = data_root or os.environ.get(DATA_ENV) or fetched_data_root()
    if not root:
        raise DataError(
            f"No benchmark data: pass --data-root DIR or set {DATA_ENV} to a folder in the "
            "QMUL V1 layout (shoes/, chairs/, handbags/, attributes/), which `fgsbir data fetch qmul-v1` "
            "(or the app's File → Download benchmark data…) downloads; or search a folder of your own "
            "photos (--catalogue FOLDER, or the app's File → Choose photo folder…)."
        )
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"{path} is not there (moved, deleted, or on a drive that is not mounted?).")
    if not path.is_dir():
        raise DataError(f"Data root {path} is not a folder.")
    return path


def known_digests(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 from the data root's SHA256SUMS (empty if absent)."""
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        return {}
    digests = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            digests[parts[1].lstrip("*")] = parts[0]
    return digests


def checked_file(root: Path, relative: str) -> Path:
    """Path of a benchmark file, after checking it exists and matches SHA256SUMS."""
    path = root / relative
    if not path.is_file():
        raise DataError(f"Missing benchmark file: {path}")
    expected = known_digests(root).get(relative)
    if expected:
        found = cached_sha256(path)
        if found != expected:
            raise DataError(
                f"Benchmark file {path} does not match its SHA-256 in SHA256SUMS "
                f"(expected {expected[:12]}…, found {found[:12]}…): it is corrupted "
                "or not the published file; fetch it again."
            )
    return path


def _load_images(root: Path, relative: str) -> np.ndarray:
    import scipy.io

    path = checked_file(root, relative)
    try:
        data = scipy.io.loadmat(path)["data"]
    except Exception as exc:  # scipy raises several types for a bad file
        raise DataError(f"Cannot read {path}: {exc}") from exc
    if data.ndim != 3 or data.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 (N, H, W) under key 'data', got {data.dtype} {data.shape}")
    return data


@dataclass(frozen=True)
class Split:
    """One published split: sketch i was drawn from photo i."""

    sketches: np.ndarray  # (N, 256, 256) uint8, white background
    photos: np.ndarray  # (N, 256, 256) uint8 edge maps, white background
    photo_ids: list[str]  # benchmark photo names without extension
    triplets: list[np.ndarray]  # per sketch: (T, 2) pairs [a, b], a judged closer than b
    attributes: np.ndarray | None  # (N, A) float32 0/1 labels, or None when unlabelled

    def __len__(self) -> int:
        return len(self.sketches)

    def subset(self, index: np.ndarray) -> "Split":
        """Pairs at `index`; human triplets are kept only where both photos stay inside."""
        index = np.asarray(index)
        remap = {int(old): new for new, old in enumerate(index)}
        triplets = []
        for old in index:
            pairs = [(remap[a], remap[b]) for a, b in self.triplets[old] if a in remap and b in remap]
            triplets.append(np.array(pairs, dtype=np.int64).reshape(-1, 2))
        return Split(
            self.sketches[index],
            self.photos[index],
            [self.photo_ids[i] for i in index],
            triplets,
            None if self.attributes is None else self.attributes[index],
        )


@dataclass(frozen=True)
class Benchmark:
    category: str
    train: Split
    test: Split
    attribute_names: list[str]
    attribute_definitions: dict[str, str]


def load_attributes(root: Path, category: str) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """Attribute names, labels by photo id, and the written definition of each attribute."""
    path = checked_file(root, f"attributes/{category}.csv")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not rows or rows[0][0] != "photo" or len(rows[0]) < 2:
        raise DataError(f"{path}: not an attribute table (its first line must be 'photo,' then the attribute names)")
    header, body = rows[0], rows[1:]
    names = header[1:]
    labels = {}
    for line, row in enumerate(body, 2):
        try:
            if len(row) != len(header):
                raise ValueError(f"{len(row)} columns where the header has {len(header)}")
            labels[row[0]] = np.array([float(v) for v in row[1:]], dtype=np.float32)
        except ValueError as exc:
            raise DataError(f"{path}, line {line}: {exc}") from exc
    definitions = {}
    taxonomy = root / "attributes" / f"taxonomy_{category}.txt"
    if taxonomy.is_file():
        for line in taxonomy.read_text().splitlines():
            key, sep, text = line.partition(":")
            if sep and key.strip() in names:
                definitions[key.strip()] = text.strip()
    return names, labels, definitions


def load_benchmark(category: str, data_root: str | os.PathLike | None = None) -> Benchmark:
    """Load one category's published splits, human triplets and (if present) attributes."""
    if category not in CATEGORIES:
        raise DataError(f"Unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    root = resolve_data_root(data_root)
    annotation = None
    if category != "handbags":
        path = checked_file(root, f"{category}/{category}_annotation.json")
        try:
            annotation = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"Cannot read {path}: {exc}") from exc
    names: list[str] = []
    labels: dict[str, np.ndarray] = {}
    definitions: dict[str, str] = {}
    if (root / "attributes" / f"{category}.csv").is_file():
        names, labels, definitions = load_attributes(root, category)

    splits = {}
    offset = 0
    for part in ("train", "test"):
        sketches = _load_images(root, f"{category}/{category}_sketch_db_{part}.mat")
        photos = _load_images(root, f"{category}/{category}_edge_db_{part}.mat")
        if len(sketches) != len(photos):
            raise DataError(f"{category} {part}: {len(sketches)} sketches but {len(photos)} edge maps")
        if annotation is not None:
            try:
                ids = [Path(name).stem for name in annotation[part]["images"]]
                triplets = [np.array(t, dtype=np.int64).reshape(-1, 2) for t in annotation[part]["triplets"]]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise DataError(f"{root / category / f'{category}_annotation.json'} is not in the benchmark's layout "
                                f"(its {part} images and triplets: {type(exc).__name__} {exc}).") from exc
        else:
            ids = [str(offset + i + 1) for i in range(len(photos))]
            triplets = [np.zeros((0, 2), dtype=np.int64) for _ in ids]
        if len(ids) != len(photos):
            raise DataError(f"{category} {part}: annotation lists {len(ids)} photos, the .mat has {len(photos)}")
        attributes = None
        if names:
            missing = [i for i in ids if i not in labels]
            if missing:
                raise DataError(f"attributes/{category}.csv has no row for photos {missing[:5]}")
            attributes = np.stack([labels[i] for i in ids])
        splits[part] = Split(sketches, photos, ids, triplets, attributes)
        offset += len(photos)
    return Benchmark(category, splits["train"], splits["test"], names, definitions)


def train_validation_split(n_train: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed carve of the training pairs into fit / validation indices (never the test split)."""
    order = np.random.default_rng(1000 + seed).permutation(n_train)
    n_val = int(round(n_train * VALIDATION_SHARE))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def cross_validation_folds(n_train: int, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`folds` disjoint validation carves that together cover every training pair once:
    [(fit indices, validation indices), ...] (never the test split)."""
    order = np.random.default_rng(2000 + folds).permutation(n_train)
    parts = np.array_split(order, folds)
    return [(np.sort(np.concatenate(parts[:k] + parts[k + 1:])), np.sort(part)) for k, part in enumerate(parts)]

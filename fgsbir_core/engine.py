"""The one object the GUI and the CLI talk to: a loaded model, catalogues, queries, ranking.

Constructing an Engine is cheap (no torch import); `load()` does the heavy work and is meant
to run off the GUI thread. Ranking is numpy only, so re-weighting never re-runs the network.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Final, Sequence

import numpy as np

from .checkpoint import ModelError, build_model, read_checkpoint
from .data import RETRIEVAL_CATEGORIES, check_folder_readable, is_photo_folder, load_benchmark, resolve_data_root
from .files import atomic_write_bytes, cached_sha256
from .raster import RasterSpec, SketchError, normalise_image, rasterise_strokes, read_sketch_picture
from .retrieval import Codes, encode_images, fused_distances, must_have_mask, present_attributes
from .retrieval import top_k as top_k_indices

FACINGS: Final = ("auto", "as drawn", "mirrored")  # Engine.orient
MODELS_DIR: Final = Path(__file__).resolve().parent.parent / "resources" / "models"
CACHE_ENV: Final = "FGSBIR_CACHE"


def bundled_weights(category: str, mode: str = "mtl") -> Path:
    return MODELS_DIR / f"{category}_{mode}.pt"


def bundled_facing(category: str) -> Path:
    return MODELS_DIR / f"{category}_facing.npz"


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "sketchfind")
    return Path(base)


ORIENT_SAMPLE: Final = 20_000  # catalogue photos that decide a sketch's orientation (Engine.orient)
ORIENT_NEIGHBOURS: Final = 3  # ... by the mean distance of this many nearest photos (docs/EXPERIMENTS.md)


@dataclass(frozen=True)
class SketchCode:
    embedding: np.ndarray  # (D,)
    attribute_probs: np.ndarray  # (A,)
    raster: np.ndarray  # the model input image, uint8 (S, S)
    mirror: SketchCode | None = None  # the same sketch mirrored left-right (see Engine.orient)
    facing_score: float | None = None  # > 0: faces the benchmark's way as drawn (fgsbir_core.facing; None = no classifier)


@dataclass(frozen=True)
class RankedResult:
    rank: int  # 1-based
    index: int  # row in the catalogue
    id: str
    score: float  # fused distance, lower is better
    attributes: dict[str, float]  # predicted probabilities for the photo
    present: tuple[str, ...] = ()  # the attributes the photo is read to show (`present_attributes`)


@dataclass
class Catalogue:
    """Photos to search: ids, their codes, and where to get a picture of each."""

    ids: list[str]
    codes: Codes
    edge_maps: np.ndarray | None = None  # (N, H, W) uint8, the network's view
    photos: np.ndarray | None = None  # (N, H, W, 3) uint8 colour photos when available
    thumbnail_loader: Callable[..., np.ndarray] | None = None  # (i, longest side) -> RGB, a folder's photo files
    source: str = ""
    skipped: list = field(default_factory=list)  # a photo folder's unreadable files: (name, why)
    unsaved: str = ""  # why a photo folder's index could not be saved (it is then indexed again next time)

    @property
    def embeddings(self) -> np.ndarray:
        return self.codes.embeddings

    @property
    def squared_norms(self) -> np.ndarray:
        """|g|^2 per photo, computed once: a query then costs one matrix-vector product."""
        norms = getattr(self, "_squared_norms", None)
        if norms is None or len(norms) != len(self.ids):
            norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
            self._squared_norms = norms
        return norms

    @property
    def attribute_probs(self) -> np.ndarray:
        return self.codes.attribute_probs

    def __len__(self) -> int:
        return len(self.ids)

    def photo_file(self, i: int) -> Path | None:
        """The file photo i was read from (a folder of the user's photos), or None (the benchmark)."""
        return Path(self.source) / self.ids[i] if self.thumbnail_loader is not None and self.source else None

    def thumbnail(self, i: int, size: int | None = None) -> np.ndarray:
        """Photo i to show: `size` asks a folder's photo for that longer side (the large view)."""
        if self.photos is not None:
            return self.photos[i]
        if self.thumbnail_loader is not None:  # a user's folder: the photo file itself
            return self.thumbnail_loader(i) if size is None else self.thumbnail_loader(i, size)
        if self.edge_maps is not None:
            return self.edge_maps[i]
        raise IndexError("this catalogue has no pictures")


class Engine:
    def __init__(self, category: str = "shoes", weights: str | os.PathLike | None = None, device: str = "cpu", mode: str = "mtl"):
        if category not in RETRIEVAL_CATEGORIES:
            raise ModelError(f"Unknown category {category!r}; choose one of {', '.join(RETRIEVAL_CATEGORIES)}")
        self.category = category
        self.weights = Path(weights) if weights else bundled_weights(category, mode)
        self.requested_device = device
        self.device = "cpu"
        self.model = None
        self.attribute_names: list[str] = []
        self.attribute_definitions: dict[str, str] = {}
        self.attribute_reliability = np.zeros(0, np.float32)
        self.raster_spec = RasterSpec()
        self.default_attribute_weight = 0.0
        self.model_hash = ""
        self.card: dict = {}
        self.facing = None  # FacingClassifier (folder photos and sketches facing right are turned), or None
        self.facing_id = ""  # hash of its file: a folder index made with another one is re-encoded
        self.facing_note = ""  # why photos' facing is not judged ("" when it is)
        self._lock = threading.Lock()  # one forward pass at a time

    # -- model -----------------------------------------------------------------------------
    def load(self) -> None:
        import torch

        state, model_hash = read_checkpoint(self.weights)
        if state["category"] != self.category:
            raise ModelError(f"{self.weights} is a {state['category']} model, not a {self.category} model.")
        names, reliability, spec, fusion = _checked_fields(self.weights, state)
        model = build_model(state)
        self.attribute_names = names
        self.attribute_definitions = {str(k): str(v) for k, v in dict(state.get("attribute_definitions") or {}).items()}
        self.attribute_reliability = reliability
        self.raster_spec = spec
        self.default_attribute_weight = fusion
        self.card = {**dict(state.get("card") or {}), **_test_figures(self.weights, state)}
        self.model_hash = model_hash
        self.facing, self.facing_note, self.facing_id = _facing_classifier(self.category, model)
        torch.set_num_threads(1)  # one sketch at a time: a second thread costs more in hand-off than it saves
        self.model = model
        self.set_device(self.requested_device)

    def set_device(self, device: str) -> str:
        """Move the model to `device`; anything that fails falls back to the CPU (never raises)."""
        import torch

        wanted = device
        try:
            if wanted == "cuda" and not torch.cuda.is_available():
                wanted = "cpu"
            if wanted == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                wanted = "cpu"
            if self.model is not None:
                self.model.to(wanted)
            self.device = wanted
        except Exception:
            if self.model is not None:
                self.model.to("cpu")
            self.device = "cpu"
        return self.device

    def _require_model(self):
        if self.model is None:
            raise ModelError("The model is not loaded yet.")
        return self.model

    def encode_rasters(self, images: np.ndarray, batch_size: int = 64, canonical_facing: bool = False) -> Codes:
        """Model-input images (N, S, S) uint8 -> codes; falls back to the CPU if the device fails.
        canonical_facing: photos that face the other way from the benchmark's are encoded
        mirrored (`codes.mirrored`), when the model has a facing classifier (fgsbir_core.facing)."""
        return self._encode(images, batch_size, self.facing if canonical_facing else None, turn=True)

    def _encode(self, images: np.ndarray, batch_size: int, facing, turn: bool) -> Codes:
        model = self._require_model()
        with self._lock:
            try:
                return encode_images(model, images, batch_size, self.device, facing, turn)
            except Exception:
                if self.device == "cpu":
                    raise
                self.set_device("cpu")
                return encode_images(model, images, batch_size, "cpu", facing, turn)

    def _code(self, raster: np.ndarray) -> SketchCode:
        mirrored = np.ascontiguousarray(raster[:, ::-1])
        # one forward pass for both, with the facing classifier's score (nothing turned here: orient chooses)
        codes = self._encode(np.stack([raster, mirrored]), 64, self.facing, turn=False)
        scores = [None, None] if codes.facing_scores is None else [float(v) for v in codes.facing_scores]
        mirror = SketchCode(codes.embeddings[1], codes.attribute_probs[1], mirrored, facing_score=scores[1])
        return SketchCode(codes.embeddings[0], codes.attribute_probs[0], raster, mirror, scores[0])

    def orient(self, code: SketchCode, catalogue: Catalogue | None, facing: str = "auto",
               neighbours: int = ORIENT_NEIGHBOURS) -> SketchCode:
        """The sketch as drawn or mirrored (`facing` "as drawn" or "mirrored" forces the choice: the
        user knows best).

        The benchmark's shoes and chairs all face left, and so does what the model learned: a
        boot drawn facing right is otherwise matched almost at random (test sketches mirrored:
        acc@1 1.7 % shoes, 15 % chairs, against all photos). Every catalogue faces left too (a
        folder's photos facing right are encoded mirrored), so "auto" asks the facing classifier
        (`code.facing_score`: mirrored when < 0). Without one (a model whose front end it was not
        fitted for) it is the sketch whose `neighbours` nearest catalogue photos are nearer on
        average. On sketches no model or classifier was fitted on (4-fold cross-validation over
        the training pairs; docs/EXPERIMENTS.md): the classifier 100 % (shoes) / 98.0 % (chairs)
        right, the 3 nearest photos 99.3 % / 94.0 %, the one nearest 96.7 % / 93.5 %."""
        if facing not in FACINGS:
            raise ValueError(f"facing must be one of {', '.join(FACINGS)}, not {facing!r}")
        if code.mirror is None:
            return code
        if facing == "auto" and code.facing_score is not None:
            chosen = code if code.facing_score >= 0 else code.mirror
            return SketchCode(chosen.embedding, chosen.attribute_probs, chosen.raster)
        if facing != "auto" or catalogue is None or not len(catalogue.ids):
            chosen = code.mirror if facing == "mirrored" else code
            return SketchCode(chosen.embedding, chosen.attribute_probs, chosen.raster)
        # a big catalogue is sampled (every k-th photo, 20,000 at most): the choice costs two
        # matrix-vector products over the sample, not over 100,000 photos
        step = -(-len(catalogue.ids) // ORIENT_SAMPLE)
        photos, norms = catalogue.embeddings[::step], catalogue.squared_norms[::step]
        k = max(1, min(neighbours, len(photos)))
        nearest = [float(np.partition(norms - 2.0 * (photos @ np.asarray(c.embedding, np.float32)), k - 1)[:k].mean())
                   + float(c.embedding @ c.embedding) for c in (code, code.mirror)]
        chosen = code.mirror if nearest[1] < nearest[0] else code
        return SketchCode(chosen.embedding, chosen.attribute_probs, chosen.raster)

    def encode_strokes(self, strokes: Sequence) -> SketchCode:
        raster = rasterise_strokes(strokes, self.raster_spec)
        if not (raster < self.raster_spec.ink_threshold).any():  # a dot, or points on top of each other
            raise SketchError("The sketch is too small to read: draw lines, not a dot.")
        return self._code(raster)

    def encode_image(self, image) -> SketchCode:
        """A sketch picture: a path, a PIL image or an array (`raster.grey_of_array`: grey or
        colour, 8/16-bit, floats, a boolean mask); lines on paper."""
        if isinstance(image, (str, os.PathLike)):
            image = read_sketch_picture(image)
        return self._code(normalise_image(image, self.raster_spec))

    def encode_file(self, path: str | os.PathLike) -> SketchCode:
        """A sketch file: SketchFind strokes or a picture of a sketch, told apart by content
        (as the app opens them: a PNG named .json is a picture; a PNG the app saved from strokes
        is those strokes)."""
        from .sketch_file import embedded_strokes, read_strokes, sniff_sketch

        kind = sniff_sketch(path)
        if kind == "json":
            return self.encode_strokes(read_strokes(path))
        if kind == "svg":  # drawing SVG needs Qt, which the core does without
            raise SketchError(f"{Path(path).name} is an SVG drawing: open it in the app, or save it as a PNG to query it here.")
        strokes = embedded_strokes(path)
        if strokes is not None:
            return self.encode_strokes([points[:, :3] for points, _ in strokes])
        return self.encode_image(path)

    # -- catalogues --------------------------------------------------------------------------
    def load_catalogue(self, data_root=None, gallery: str = "all", progress=None, cancel=None) -> Catalogue:
        """The benchmark photos of this category (gallery 'all' = train + test, or 'test'), or,
        when `data_root` is a folder of the user's own photos, that folder (indexed
        incrementally; `Catalogue.skipped` lists the files that could not be read)."""
        self._require_model()
        if gallery not in ("all", "test"):
            raise ValueError(f"gallery must be 'all' or 'test', not {gallery!r}")
        if data_root is not None:
            check_folder_readable(data_root)
        if data_root is not None and is_photo_folder(data_root):
            from .user_catalogue import build_folder_catalogue

            catalogue, skipped = build_folder_catalogue(self, data_root, progress=progress, cancel=cancel)
            catalogue.skipped = list(skipped)
            return catalogue
        root = resolve_data_root(data_root)
        bench = load_benchmark(self.category, root)
        if self.attribute_names and bench.attribute_names and list(bench.attribute_names) != list(self.attribute_names):
            raise ModelError(
                f"The model's attributes ({', '.join(self.attribute_names) or 'none'}) are not the "
                f"{self.category} attributes of the data in {root} ({', '.join(bench.attribute_names)}): "
                "the model was trained on other labels; use the matching model or data."
            )
        parts = [bench.test] if gallery == "test" else [bench.train, bench.test]
        ids = [i for part in parts for i in part.photo_ids]
        edges = np.concatenate([part.photos for part in parts])
        digest = "-".join(cached_sha256(root / self.category / f"{self.category}_edge_db_{p}.mat")[:12] for p in ("train", "test"))
        cache = cache_dir() / f"{self.category}-{gallery}-{self.model_hash}-{digest}.npz"
        codes = _read_codes(cache, len(ids))
        if codes is None:
            chunks = []
            for start in range(0, len(edges), 64):
                if cancel is not None and cancel():
                    raise InterruptedError("Indexing cancelled.")
                chunks.append(self.encode_rasters(edges[start: start + 64]))
                if progress is not None:
                    progress(min(start + 64, len(edges)), len(edges))
            codes = Codes(np.concatenate([c.embeddings for c in chunks]), np.concatenate([c.attribute_probs for c in chunks]))
            _write_codes(cache, codes)
        photos = _load_colour_photos(root, self.category, parts, gallery)
        return Catalogue(ids, codes, edge_maps=edges, photos=photos, source=str(root))

    # -- ranking -----------------------------------------------------------------------------
    def rank(self, code: SketchCode, catalogue: Catalogue, attribute_weight: float | None = None,
             attribute_weights: np.ndarray | None = None, must_have: Sequence[str] = (),
             top_k: int = 24) -> list[RankedResult]:
        """Rank the catalogue for one sketch by d_embedding + w * d_attribute (numpy only).

        attribute_weight: the fusion weight w (None = the one chosen on validation).
        attribute_weights: per-attribute user weights (A,), 0 = ignore, 1 = use.
        must_have: attribute names a photo must be read (`present_attributes`) to show.
        A code with its mirror is oriented first (`orient`). An empty catalogue ranks nothing.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a whole number of at least 1, not {top_k!r}")
        if not len(catalogue.ids):
            return []  # e.g. a chosen folder with no readable photo
        code = self.orient(code, catalogue)
        distances = self.distances(code, catalogue, attribute_weight, attribute_weights)
        if must_have:
            unknown = [n for n in must_have if n not in self.attribute_names]
            if unknown:
                raise ValueError(f"Unknown attributes: {', '.join(unknown)}")
            distances = np.where(must_have_mask(catalogue.attribute_probs, self.attribute_names, must_have), distances, np.inf)
        order = [int(i) for i in top_k_indices(distances[None], top_k)[0] if np.isfinite(distances[i])]
        shown = present_attributes(catalogue.attribute_probs[order], self.attribute_names)
        return [
            RankedResult(rank + 1, i, catalogue.ids[i], float(distances[i]),
                         dict(zip(self.attribute_names, map(float, catalogue.attribute_probs[i]))),
                         tuple(name for name, on in zip(self.attribute_names, row) if on))
            for rank, (i, row) in enumerate(zip(order, shown))
        ]

    def present_attributes(self, probs: np.ndarray) -> tuple[str, ...]:
        """The attributes a sketch or photo with these predicted probabilities is read to show:
        p >= 0.5, and one of each group the labels allow only one of (`retrieval.present_attributes`)."""
        shown = present_attributes(np.asarray(probs, np.float32).reshape(-1), self.attribute_names)
        return tuple(name for name, on in zip(self.attribute_names, shown) if on)

    def distances(self, code: SketchCode, catalogue: Catalogue, attribute_weight: float | None = None,
                  attribute_weights: np.ndarray | None = None) -> np.ndarray:
        w = self.default_attribute_weight if attribute_weight is None else float(attribute_weight)
        if not (np.isfinite(w) and w >= 0):
            raise ValueError(f"The attribute weight must be a finite number of at least 0, not {attribute_weight!r}.")
        # the user's per-attribute weights (0 = ignore) scale the labels' reliability
        weights = self.attribute_reliability
        if attribute_weights is not None:
            user = np.asarray(attribute_weights, np.float32)
            if user.shape != weights.shape:
                raise ValueError(f"{user.size} per-attribute weights for {len(self.attribute_names)} attributes.")
            weights = weights * user
        query = Codes(np.asarray(code.embedding, np.float32)[None], np.asarray(code.attribute_probs, np.float32)[None])
        gallery = Codes(catalogue.embeddings, catalogue.attribute_probs)
        return fused_distances(query, gallery, w, weights, catalogue.squared_norms)[0]


def _checked_fields(path: Path, state: dict) -> tuple[list[str], np.ndarray, RasterSpec, float]:
    """The checkpoint fields the engine relies on, checked: a clear ModelError, never a crash later."""
    names = state["attribute_names"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"{path}: the attribute list is not a list of names.")
    if len(set(names)) != len(names):
        raise ModelError(f"{path}: the attribute list names an attribute twice.")
    try:
        spec = RasterSpec.from_dict(state["raster_spec"], strict=True)
    except SketchError as exc:
        raise ModelError(f"{path}: {exc} The model cannot be given the pictures it was trained on.") from exc
    try:
        reliability = np.asarray(state.get("attribute_reliability", np.ones(len(names))), np.float32).reshape(-1)
        fusion = float(state.get("fusion_weight", 0.0))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: bad attribute reliability or fusion weight ({exc}).") from exc
    if len(reliability) != len(names) or not np.isfinite(reliability).all():
        raise ModelError(f"{path}: {len(reliability)} attribute reliabilities for {len(names)} attributes.")
    if not np.isfinite(fusion) or fusion < 0:
        raise ModelError(f"{path}: fusion weight {fusion} is not a finite non-negative number.")
    return list(names), reliability, spec, fusion


def _facing_classifier(category: str, model):
    """(the bundled facing classifier of `category`, "", its file's hash) if it fits the model's
    front end, else (None, why not, ""): folder photos are then encoded as they are, as before
    facing was judged. The hash is of the bytes loaded (a folder index names the classifier)."""
    from .facing import FacingClassifier

    path = bundled_facing(category)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None, f"no facing classifier ({path.name} missing)", ""
    except OSError as exc:
        return None, f"no facing classifier ({path.name}: {exc.strerror or exc})", ""
    try:
        classifier = FacingClassifier.load(path, content)
    except ValueError as exc:
        return None, str(exc), ""
    if not classifier.fits(model):
        return None, f"{path.name} was fitted for another front end than this model's", ""
    return classifier, "", hashlib.sha256(content).hexdigest()[:16]


def _read_codes(path: Path, n: int) -> Codes | None:
    try:
        with np.load(path) as data:
            codes = Codes(data["embeddings"], data["attribute_probs"])
        return codes if len(codes) == n else None
    except Exception:  # absent or damaged cache: recompute
        return None


def _write_codes(path: Path, codes: Codes) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, embeddings=codes.embeddings, attribute_probs=codes.attribute_probs)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # an unwritable cache only costs time


def _load_colour_photos(root: Path, category: str, parts, gallery: str) -> np.ndarray | None:
    """Colour photos from `<cat>_image_db_{train,test}.mat` when the user has them."""
    import scipy.io

    names = ["test"] if gallery == "test" else ["train", "test"]
    arrays = []
    for name in names:
        path = root / category / f"{category}_image_db_{name}.mat"
        if not path.is_file():
            return None
        try:
            data = scipy.io.loadmat(path)["data"]
        except Exception:
            return None
        if data.ndim != 4 or data.shape[-1] != 3:
            return None
        arrays.append(data.astype(np.uint8))
    photos = np.concatenate(arrays)
    return photos if len(photos) == sum(len(p) for p in parts) else None


def _test_figures(weights: Path, state: dict) -> dict:
    """{"test": {...}, "validation": {...}} from the model card beside the weights (`fgsbir card`
    writes the test figures there, after training, and a cross-validation's acc@1 for a model
    trained at a step chosen beforehand), when it describes this model; else {}."""
    try:
        card = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    mode = state.get("mode") or (state.get("card") or {}).get("mode")
    same = isinstance(card, dict) and card.get("category") == state.get("category") and \
        card.get("mode") == mode and isinstance(card.get("test"), dict)
    if not same:
        return {}
    validation = {**((state.get("card") or {}).get("validation") or {}), **(card.get("validation") or {})}
    return {"test": card["test"], "validation": validation}

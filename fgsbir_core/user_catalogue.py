"""Search your own photos: index a folder of product photos into a `Catalogue`.

`build_folder_catalogue(engine, folder)` scans `folder` recursively for photo files (`edges.PHOTO_SUFFIXES`),
turns each photo into a benchmark-style edge map (`fgsbir_core.edges`), encodes the edge maps
with the engine's network and returns a `Catalogue` whose ids are the photos' paths relative
to the folder.  Files that cannot be read (corrupt, truncated, not a picture, too large, too
small, blank) are skipped and listed, never fatal.

The index is cached per (folder, model) under ``cache_dir()/folders/``::

    <key>.json                  manifest: version, folder, model hash, facing classifier, generation, counts, skipped
    <key>.<gen>.npz             ids, SHA-256 of each file, size, mtime, attribute probabilities, mirrored
    <key>.<gen>.emb.npy         embeddings, float32 (N, D)   -- memory-mapped on load
    <key>.<gen>.edges.npy       edge-map thumbnails, uint8 (N, 64, 64) -- memory-mapped on load

with ``key = sha256(absolute folder path)[:16] + "-" + engine.model_hash``.  Re-indexing is
incremental: a file whose size and mtime are unchanged is trusted, a changed one is hashed and
re-encoded only if its content changed, a moved or renamed file (same content hash) keeps its
codes, removed files are dropped.  Photos that face the other way from the benchmark's are
encoded mirrored when the engine has a facing classifier (`fgsbir_core.facing`); an index made
with another classifier (or none) is re-encoded.  Data files are written first (atomically, under a fresh
generation name) and the manifest last, so an interrupted run leaves the previous index usable;
a cancelled run saves what it finished so the next run resumes.  Nothing is pickled.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .data import check_folder_readable
from .files import atomic_write, atomic_write_bytes, sha256_file
from .edges import PHOTO_SUFFIXES, UNREAD_PHOTO_SUFFIXES, ImageError, edge_maps_of_files, keep_freed_memory, open_photo, thumbnail_rgb
from .engine import Catalogue, cache_dir
from .retrieval import Codes

INDEX_VERSION: Final = 3  # 2: facing classifier and mirrored flags; 3: pale photos stretched (edges.EdgeSpec.pale_above)
EDGE_THUMB: Final = 64  # px, side of the stored edge-map thumbnails
PHOTO_THUMB: Final = 160  # px, longer side of photo thumbnails made on demand
BATCH: Final = 64
READ_WORKERS: Final = max(1, min(8, os.cpu_count() or 2))  # photo decoding processes (or threads)
CHUNK: Final = 8  # photos per decoding task
PROCESS_MIN: Final = 64  # fewer new photos are decoded on threads: a process takes ~0.2 s to start
PARENT_CHECK_S: Final = 0.5  # how often a decoding process looks whether its parent is still there

Skipped = list[tuple[str, str]]


@dataclass
class FolderIndex:
    """What is stored for one folder and model (arrays may be memory-mapped)."""

    ids: list[str]
    hashes: list[str]
    sizes: np.ndarray  # int64
    mtimes: np.ndarray  # int64 ns
    embeddings: np.ndarray  # (N, D) float32
    attribute_probs: np.ndarray  # (N, A) float32
    edge_thumbs: np.ndarray  # (N, EDGE_THUMB, EDGE_THUMB) uint8
    skipped: dict[str, list]  # id -> [size, mtime_ns, reason]; not retried while unchanged
    mirrored: np.ndarray  # (N,) bool: encoded mirrored (faced the other way from the benchmark's photos)
    facing_id: str = ""  # the engine's facing classifier when it was encoded ("" = none)

    def __len__(self) -> int:
        return len(self.ids)


def index_key(folder: str | os.PathLike, model_hash: str) -> str:
    path = os.path.normcase(str(Path(folder).expanduser().resolve()))
    return f"{hashlib.sha256(path.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}-{model_hash or 'nomodel'}"


def index_dir() -> Path:
    return cache_dir() / "folders"


def manifest_path(folder: str | os.PathLike, model_hash: str) -> Path:
    return index_dir() / f"{index_key(folder, model_hash)}.json"


# ------------------------------------------------------------------------------ reading / writing
def load_folder_index(manifest: Path, mmap: bool = True) -> FolderIndex | None:
    """The stored index behind `manifest`, or None when absent, foreign or damaged."""
    try:
        info = json.loads(manifest.read_text())
        if info.get("version") != INDEX_VERSION:
            return None
        stem = manifest.parent / f"{manifest.stem}.{info['generation']}"
        with np.load(f"{stem}.npz", allow_pickle=False) as data:
            ids = data["ids"].tolist()
            hashes = data["hashes"].tolist()
            sizes, mtimes = data["sizes"], data["mtimes"]
            probs = data["attribute_probs"]
            mirrored = data["mirrored"].astype(bool)
        mode = "r" if mmap else None
        embeddings = np.load(f"{stem}.emb.npy", mmap_mode=mode, allow_pickle=False)
        thumbs = np.load(f"{stem}.edges.npy", mmap_mode=mode, allow_pickle=False)
        n = len(ids)
        if not (len(hashes) == len(sizes) == len(mtimes) == len(probs) == len(embeddings) == len(thumbs) == len(mirrored) == n):
            return None
        return FolderIndex(ids, hashes, sizes, mtimes, embeddings, probs, thumbs, dict(info.get("skipped", {})), mirrored,
                           str(info.get("facing", "")))
    except Exception:  # any damage (a cut-short .npz is a BadZipFile, a hand-edited manifest a list...): index again
        return None


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """np.save through a temp file + fsync + rename (streams: no second copy in memory)."""
    atomic_write(path, lambda handle: np.save(handle, np.ascontiguousarray(array), allow_pickle=False))


def save_folder_index(manifest: Path, index: FolderIndex, folder: str, model_hash: str) -> None:
    """Write a new generation of data files, then the manifest (the commit), then tidy up."""
    import io

    manifest.parent.mkdir(parents=True, exist_ok=True)
    generation = uuid.uuid4().hex[:12]
    stem = manifest.parent / f"{manifest.stem}.{generation}"
    buffer = io.BytesIO()
    ids = np.array(index.ids, dtype=str) if index.ids else np.zeros(0, dtype="<U1")
    hashes = np.array(index.hashes, dtype="<U64") if index.hashes else np.zeros(0, dtype="<U64")
    np.savez(buffer, ids=ids, hashes=hashes, sizes=np.asarray(index.sizes, np.int64),
             mtimes=np.asarray(index.mtimes, np.int64), attribute_probs=np.asarray(index.attribute_probs, np.float32),
             mirrored=np.asarray(index.mirrored, bool))
    atomic_write_bytes(f"{stem}.npz", buffer.getvalue())
    _atomic_save_npy(Path(f"{stem}.emb.npy"), np.asarray(index.embeddings, np.float32))
    _atomic_save_npy(Path(f"{stem}.edges.npy"), np.asarray(index.edge_thumbs, np.uint8))
    info = {"version": INDEX_VERSION, "folder": folder, "model_hash": model_hash, "facing": index.facing_id, "generation": generation,
            "count": len(index), "edge_thumb": EDGE_THUMB, "saved": time.time(), "skipped": index.skipped}
    try:
        previous = json.loads(manifest.read_text()).get("generation")
    except Exception:  # none yet, or damaged
        previous = None
    atomic_write_bytes(manifest, json.dumps(info, indent=1).encode())
    # Tidy only the generation the manifest named before (and leftovers over an hour old): another
    # program indexing the same folder may have written a newer generation that its manifest is
    # about to name, and deleting that would leave a manifest naming deleted files.
    for old in manifest.parent.glob(f"{manifest.stem}.*"):
        name_generation = old.name[len(manifest.stem) + 1:].split(".")[0]
        if old.name == manifest.name or name_generation == generation:
            continue
        try:
            if name_generation == previous or time.time() - old.stat().st_mtime > 3600:
                old.unlink()
        except OSError:  # gone already, or still memory-mapped elsewhere (Windows): left for a later run
            pass


# ------------------------------------------------------------------------------ scanning
def scan_folder(folder: Path, unreadable: list | None = None, found_so_far: Callable[[int], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> list[str]:
    """Relative POSIX paths of the photo files under `folder` (sorted; hidden entries skipped).
    Linked subfolders are followed, each real folder once (no loops), except links to a folder
    that holds `folder` itself (a link to `/` would list the whole disk); anything that is not a
    regular file (a pipe, a device, a broken link) is left out, as reading it could hang.
    `unreadable` receives (relative folder + "/", reason) for each subfolder that cannot be listed
    or is left out, and (relative path, reason) for each photo of a kind that is not read (HEIC,
    AVIF). Listing a large tree takes seconds: found_so_far(count) is called every 0.2 s, and
    cancel() -> True stops with InterruptedError, checked between folders."""
    found = []
    seen = set()
    root_real = os.path.realpath(folder)
    said = time.monotonic()

    def holds_root(path: str) -> bool:  # (a link to `folder` itself is a loop, left out quietly below)
        return root_real.startswith(os.path.realpath(path).rstrip(os.sep) + os.sep)

    def cannot_list(exc: OSError) -> None:
        if unreadable is not None and exc.filename is not None:
            name = Path(exc.filename).relative_to(folder).as_posix() + "/"
            unreadable.append((name, f"cannot read the folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=cannot_list):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        if cancel is not None and cancel():
            raise InterruptedError("Indexing cancelled.")
        if found_so_far is not None and time.monotonic() - said > 0.2:
            found_so_far(len(found))
            said = time.monotonic()
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d)) and holds_root(os.path.join(dirpath, d))]:
            dirnames.remove(d)
            if unreadable is not None:
                unreadable.append((Path(dirpath, d).relative_to(folder).as_posix() + "/",
                                   "a link to a folder that holds this one: left out"))
        for name in filenames:
            kind = UNREAD_PHOTO_SUFFIXES.get(os.path.splitext(name)[1].lower())
            if kind and not name.startswith(".") and unreadable is not None:
                unreadable.append((Path(dirpath, name).relative_to(folder).as_posix(),
                                   f"{kind} pictures are not read: save it as JPEG or PNG"))
            if name.startswith(".") or not name.lower().endswith(PHOTO_SUFFIXES):
                continue
            try:
                if not stat.S_ISREG(os.stat(os.path.join(dirpath, name)).st_mode):
                    continue
            except OSError:
                pass  # unreadable: kept, so it is listed as skipped with its reason
            found.append(Path(dirpath, name).relative_to(folder).as_posix())
    return sorted(found)


def _edge_thumb(edge_map: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(edge_map).resize((EDGE_THUMB, EDGE_THUMB), Image.BOX), np.uint8)


def _decoding_pool(jobs: int) -> Executor:
    """Worker processes for `jobs` photos to decode (threads for a few, or where no process starts)."""
    if jobs >= PROCESS_MIN and READ_WORKERS > 1:
        try:  # spawn, not fork: this may run beside Qt's and torch's threads
            return ProcessPoolExecutor(max_workers=READ_WORKERS, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_decoding_worker_start, initargs=(os.getpid(),))
        except (OSError, ValueError, NotImplementedError):
            pass
    return _thread_pool()


def _decoding_worker_start(parent: int) -> None:
    keep_freed_memory()
    # A killed parent (SIGKILL, a logout's SIGTERM) cannot shut its pool down: the workers would
    # live on, orphaned, each holding its memory. They leave within a second of it instead.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _thread_pool() -> Executor:
    return ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="sketchfind-index")


# ------------------------------------------------------------------------------ building
def build_folder_catalogue(engine, folder: str | os.PathLike, progress: Callable[[int, int], None] | None = None,
                           cancel: Callable[[], bool] | None = None, stats: dict | None = None) -> tuple[Catalogue, Skipped]:
    """Index (incrementally) the photos under `folder` and return (catalogue, skipped files).

    progress(done, total) counts photo files; cancel() -> True stops with InterruptedError
    after saving the finished part. `stats`, if given, receives counts (encoded, reused,
    removed, skipped, total).
    """
    root = Path(folder).expanduser()
    check_folder_readable(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder.")
    root = root.resolve()
    model_hash = getattr(engine, "model_hash", "") or ""
    manifest = manifest_path(root, model_hash)
    facing_id = getattr(engine, "facing_id", "") or ""
    old = load_folder_index(manifest)
    if old is not None and old.facing_id != facing_id:
        old = None  # encoded with another facing classifier: encode every photo again
    unreadable: Skipped = []
    # progress(found, 0) while listing: the count so far, the total not known yet
    names = scan_folder(root, unreadable, None if progress is None else (lambda found: progress(found, 0)), cancel)
    total = len(names)

    old_rows = {name: i for i, name in enumerate(old.ids)} if old else {}
    old_by_hash = {h: i for i, h in enumerate(old.hashes)} if old else {}
    old_sizes = {int(size) for size in old.sizes} if old else set()
    old_skipped = old.skipped if old else {}

    keep_rows: list[tuple[str, int, int, int, str]] = []  # (id, size, mtime, old row, hash)
    todo: list[tuple[str, int, int]] = []  # (id, size, mtime): to decode and encode
    skipped: Skipped = []
    skipped_info: dict[str, list] = {}
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None and (done % 16 == 0 or done == total):
            progress(done, total)

    # 1. what is new or changed (stat first; the content hash only when the stat changed and an
    # old photo has that size, so could have that content: a first index reads each file once, in
    # the decoders). The first report comes now, so a slow disk already shows progress and Cancel
    if progress is not None and total:
        progress(0, total)
    for name in names:
        if cancel is not None and cancel():
            raise InterruptedError("Indexing cancelled.")
        path = root / name
        try:
            st = path.stat()
        except OSError as exc:
            skipped.append((name, f"cannot read: {exc.strerror or exc}"))
            continue
        size, mtime = int(st.st_size), int(st.st_mtime_ns)
        row = old_rows.get(name)
        if row is not None and int(old.sizes[row]) == size and int(old.mtimes[row]) == mtime:
            keep_rows.append((name, size, mtime, row, old.hashes[row]))
            continue
        prior = old_skipped.get(name)
        if prior and prior[0] == size and prior[1] == mtime:
            skipped.append((name, prior[2]))
            skipped_info[name] = prior
            continue
        if size in old_sizes:
            try:
                digest = sha256_file(path)
            except OSError as exc:
                skipped.append((name, f"cannot read: {exc.strerror or exc}"))
                continue
            same = old_by_hash.get(digest)
            if same is not None:  # unchanged content (touched, moved or copied): keep its codes
                keep_rows.append((name, size, mtime, same, digest))
                continue
        todo.append((name, size, mtime))
    for _ in keep_rows:
        tick()
    for _ in skipped:
        tick()

    # 2. encode what is new, in batches; on cancel, save what is finished
    new_ids: list[str] = []
    new_meta: list[tuple[int, int, str]] = []
    new_emb: list[np.ndarray] = []
    new_probs: list[np.ndarray] = []
    new_mirrored: list[np.ndarray] = []
    new_thumbs: list[np.ndarray] = []
    batch_names: list[tuple[str, int, int, str]] = []
    batch_edges: list[np.ndarray] = []

    def flush():
        if not batch_edges:
            return
        codes = engine.encode_rasters(np.stack(batch_edges), canonical_facing=True)
        new_emb.append(np.asarray(codes.embeddings, np.float32))
        new_probs.append(np.asarray(codes.attribute_probs, np.float32))
        new_mirrored.append(np.zeros(len(batch_edges), bool) if codes.mirrored is None else np.asarray(codes.mirrored, bool))
        new_thumbs.extend(_edge_thumb(e) for e in batch_edges)
        for name, size, mtime, digest in batch_names:
            new_ids.append(name)
            new_meta.append((size, mtime, digest))
        batch_names.clear()
        batch_edges.clear()

    # Photos are decoded in chunks by worker processes while this thread encodes the previous
    # batch; a bounded look-ahead keeps memory flat. Processes, not threads: the edge extractor is
    # many short numpy steps and two threads fight over the GIL between them (edge maps alone on
    # this 2-core machine: 2 threads 1.2-1.6x one thread, 2 processes 1.7-1.9x). Small jobs, or a
    # machine where processes cannot start, use threads.
    cancelled = False
    pending: deque = deque()
    chunks = iter([todo[i: i + CHUNK] for i in range(0, len(todo), CHUNK)])
    pools: list[Executor] = []

    def submit(paths: list[str]):
        if not pools:
            pools.append(_decoding_pool(len(todo)))
        try:
            return pools[-1].submit(edge_maps_of_files, paths)
        except (BrokenExecutor, RuntimeError, OSError):  # processes unavailable: threads instead
            pools.append(_thread_pool())
            return pools[-1].submit(edge_maps_of_files, paths)

    def top_up():
        while len(pending) * CHUNK < 2 * BATCH:
            chunk = next(chunks, None)
            if chunk is None:
                return
            paths = [str(root / item[0]) for item in chunk]
            pending.append((chunk, paths, submit(paths)))

    interrupted = False
    try:
        top_up()
        while pending and not cancelled:
            chunk, paths, future = pending.popleft()
            top_up()
            try:
                results = future.result()
            except BrokenExecutor:  # a worker process died (killed?): read this chunk here
                results = edge_maps_of_files(paths)
            for (name, size, mtime), (edge_map, reason, digest) in zip(chunk, results):
                if cancel is not None and cancel():
                    cancelled = True
                    break
                if edge_map is None:
                    skipped.append((name, reason))
                    if digest is not None:  # read, but no photo: not retried until the file changes
                        skipped_info[name] = [size, mtime, reason]
                else:
                    batch_names.append((name, size, mtime, digest))
                    batch_edges.append(edge_map)
                    if len(batch_edges) >= BATCH:
                        flush()
                tick()
    except KeyboardInterrupt:  # Ctrl+C on the command line: the finished part is saved, as on a cancel
        cancelled = interrupted = True
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    flush()  # after a cancel too: the decoded part of the batch is finished work

    # 3. assemble: kept rows (from the old index) + new rows, sorted by id
    index = _assemble(old, keep_rows, new_ids, new_meta, new_emb, new_probs, new_mirrored, new_thumbs, skipped_info, engine)
    changed = bool(new_ids) or old is None or len(keep_rows) != len(old) or skipped_info != old_skipped \
        or any(old.ids[row] != name or int(old.mtimes[row]) != mtime for name, _, mtime, row, _ in keep_rows)
    unsaved = ""
    if changed:
        try:
            save_folder_index(manifest, index, str(root), model_hash)
        except OSError as exc:  # an unwritable cache only costs time next run, which is said
            unsaved = f"the photo index cannot be saved ({exc.strerror or exc}) in {manifest.parent}: {root} " \
                      "is indexed again next time"
        else:
            saved = load_folder_index(manifest)  # memory-mapped view of what was written
            if saved is not None:
                index = saved
    if interrupted:
        raise KeyboardInterrupt
    if cancelled:
        raise InterruptedError(f"Indexing cancelled after {len(new_ids)} new photos; "
                               + (unsaved if unsaved else "the next run continues."))
    skipped = sorted(skipped + unreadable)
    if stats is not None:
        stats.update(encoded=len(new_ids), reused=len(keep_rows), mirrored=int(np.count_nonzero(index.mirrored)), removed=len(set(old.ids) - set(names)) if old else 0,
                     skipped=len(skipped), total=total)
    catalogue = _catalogue(index, root)
    catalogue.unsaved = unsaved
    return catalogue, skipped


def _assemble(old: FolderIndex | None, keep_rows, new_ids, new_meta, new_emb, new_probs, new_mirrored, new_thumbs, skipped_info,
              engine) -> FolderIndex:
    n_attr = len(getattr(engine, "attribute_names", []) or [])
    if new_emb:
        dim = new_emb[0].shape[1]
        n_attr = new_probs[0].shape[1]
    elif old is not None and len(old):
        dim = old.embeddings.shape[1]
        n_attr = old.attribute_probs.shape[1]
    else:
        dim = 0
    ids = [r[0] for r in keep_rows] + new_ids
    order = np.argsort(np.array(ids, dtype=object), kind="stable") if ids else np.zeros(0, np.int64)
    rows = np.array([r[3] for r in keep_rows], np.int64)
    parts_emb = [np.asarray(old.embeddings[rows], np.float32)] if len(rows) else []
    parts_probs = [np.asarray(old.attribute_probs[rows], np.float32)] if len(rows) else []
    parts_thumbs = [np.asarray(old.edge_thumbs[rows], np.uint8)] if len(rows) else []
    parts_mirrored = [np.asarray(old.mirrored[rows], bool)] if len(rows) else []
    mirrored = np.concatenate(parts_mirrored + new_mirrored) if parts_mirrored or new_mirrored else np.zeros(0, bool)
    embeddings = np.concatenate(parts_emb + new_emb) if parts_emb or new_emb else np.zeros((0, dim), np.float32)
    probs = np.concatenate(parts_probs + new_probs) if parts_probs or new_probs else np.zeros((0, n_attr), np.float32)
    thumbs = np.concatenate(parts_thumbs + ([np.stack(new_thumbs)] if new_thumbs else [])) if parts_thumbs or new_thumbs \
        else np.zeros((0, EDGE_THUMB, EDGE_THUMB), np.uint8)
    sizes = np.array([r[1] for r in keep_rows] + [m[0] for m in new_meta], np.int64)
    mtimes = np.array([r[2] for r in keep_rows] + [m[1] for m in new_meta], np.int64)
    hashes = [r[4] for r in keep_rows] + [m[2] for m in new_meta]
    return FolderIndex([ids[i] for i in order], [hashes[i] for i in order], sizes[order], mtimes[order],
                       embeddings[order], probs[order], thumbs[order], skipped_info, mirrored[order],
                       getattr(engine, "facing_id", "") or "")


def _catalogue(index: FolderIndex, root: Path) -> Catalogue:
    def load_thumbnail(i: int, size: int = PHOTO_THUMB) -> np.ndarray:
        try:
            return thumbnail_rgb(open_photo(root / index.ids[i]), size)
        except (ImageError, OSError):  # moved or damaged since indexing: show the edge map
            return np.asarray(index.edge_thumbs[i])

    codes = Codes(index.embeddings, index.attribute_probs, index.mirrored)
    return Catalogue(list(index.ids), codes, edge_maps=index.edge_thumbs, photos=None,
                     thumbnail_loader=load_thumbnail, source=str(root))


def load_folder_catalogue(engine, folder: str | os.PathLike) -> Catalogue | None:
    """The cached catalogue of `folder` for this engine's model as last indexed (no scan), or None."""
    root = Path(folder).expanduser().resolve()
    index = load_folder_index(manifest_path(root, getattr(engine, "model_hash", "") or ""))
    if index is None or index.facing_id != (getattr(engine, "facing_id", "") or ""):
        return None
    return _catalogue(index, root)


# ------------------------------------------------------------------------------ export
def export_faiss(catalogue: Catalogue, path: str | os.PathLike, kind: str = "flat") -> Path:
    """Write the catalogue's embeddings as a FAISS index (row i = catalogue.ids[i]).

    kind "flat": exact IndexFlatL2 (squared L2, the engine's embedding distance); "hnsw":
    approximate IndexHNSWFlat (32 links) for very large folders. A JSON list of the ids is
    written beside it (``<path>.ids.json``). Needs the `faiss-cpu` package.
    """
    try:
        import faiss
    except ImportError as exc:
        raise RuntimeError("Exporting a FAISS index needs the faiss package: pip install faiss-cpu") from exc
    embeddings = np.ascontiguousarray(np.asarray(catalogue.embeddings, np.float32))
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError("The catalogue has no embeddings to export.")
    dim = embeddings.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32)
    else:
        raise ValueError(f"Unknown FAISS index kind {kind!r}: use 'flat' or 'hnsw'.")
    index.add(embeddings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, faiss.serialize_index(index).tobytes())
    atomic_write_bytes(Path(f"{path}.ids.json"), json.dumps(list(catalogue.ids)).encode())
    return path

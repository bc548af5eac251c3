"""Photo -> edge map extraction on odd files, and incremental folder indexing."""
from __future__ import annotations

import io
import itertools
import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEngine
from PIL import Image, ImageDraw, ImageFilter

from fgsbir_core import user_catalogue
from fgsbir_core.edges import EdgeSpec, ImageError, open_photo, photo_to_edges
from fgsbir_core.engine import bundled_weights
from fgsbir_core.retrieval import Codes
from fgsbir_core.user_catalogue import (
    build_folder_catalogue,
    export_faiss,
    load_folder_catalogue,
    load_folder_index,
    manifest_path,
)


# ----------------------------------------------------------------------------- picture makers
def product(size=(512, 512), colour=(40, 60, 160), background=(255, 255, 255), seed=0) -> Image.Image:
    """A shoe-ish object: a filled body with a sole, a strap and seams, on a plain background."""
    rng = np.random.default_rng(seed)
    w, h = size
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    x0, y0 = int(w * rng.uniform(0.1, 0.2)), int(h * rng.uniform(0.3, 0.4))
    x1, y1 = int(w * rng.uniform(0.8, 0.9)), int(h * rng.uniform(0.7, 0.8))
    draw.polygon([(x0, y1), (x0 + (x1 - x0) // 3, y0), (x1, y0 + (y1 - y0) // 4), (x1, y1)], fill=colour)
    dark = tuple(int(c * 0.5) for c in colour)
    draw.rectangle([x0, y1 - (y1 - y0) // 6, x1, y1], fill=dark)
    mid = (x0 + x1) // 2
    draw.line([(mid, y0 + 10), (mid + 30, y1 - 30)], fill=dark, width=max(2, w // 150))
    draw.ellipse([mid - 40, y0 + 20, mid + 10, y0 + 60], outline=(230, 230, 230), width=3)
    return image


def png_bytes(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **kw)
    return buffer.getvalue()


def bomb_png(width=60_000, height=60_000) -> bytes:
    """A tiny PNG file that claims 3.6 gigapixels (header only matters)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def odd_files(folder: Path) -> dict[str, str]:
    """Write every odd kind of file; returns name -> 'ok' or 'bad'."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}
    base = product()
    base.save(folder / "plain.jpg", quality=90)
    kinds["plain.jpg"] = "ok"
    rgba = Image.new("RGBA", base.size, (0, 0, 0, 0))
    mask = Image.fromarray((np.asarray(base).min(2) < 250).astype(np.uint8) * 255)
    rgba.paste(base, mask=mask)
    rgba.save(folder / "transparent.png")
    kinds["transparent.png"] = "ok"
    base.convert("L").save(folder / "grey.png")
    kinds["grey.png"] = "ok"
    base.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    kinds["cmyk.jpg"] = "ok"
    grey16 = (np.asarray(base.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "deep16.png")
    kinds["deep16.png"] = "ok"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 deg clockwise to display
    base.rotate(90, expand=True).save(folder / "rotated.jpg", exif=exif.tobytes(), quality=90)
    kinds["rotated.jpg"] = "ok"
    base.save(folder / "photo.webp", quality=90)
    kinds["photo.webp"] = "ok"
    for name, options in (("photo.bmp", {}), ("photo.gif", {}), ("photo.tif", {}), ("chrome.jfif", {"format": "JPEG"}),
                          ("gainmap.jpg", {"format": "MPO", "save_all": True})):  # formats a QA pass found ignored
        base.save(folder / name, **options)
        kinds[name] = "ok"
    (folder / "sub").mkdir()
    base.resize((700, 300)).save(folder / "sub" / "wide.JPG", quality=90)
    kinds["sub/wide.JPG"] = "ok"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(folder / "tiny.png")
    kinds["tiny.png"] = "bad"
    (folder / "bomb.png").write_bytes(bomb_png())
    kinds["bomb.png"] = "bad"
    whole = (folder / "plain.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    kinds["truncated.jpg"] = "bad"
    (folder / "notes.jpg").write_text("this is not a picture\n")
    kinds["notes.jpg"] = "bad"
    Image.new("RGB", (300, 300), (250, 250, 250)).save(folder / "blank.png")
    kinds["blank.png"] = "bad"
    (folder / "readme.txt").write_text("ignored: not a photo suffix")
    (folder / ".hidden.jpg").write_bytes(whole)  # hidden: ignored
    return kinds


def ink_box(edge_map: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(edge_map < 200)
    return ys.min(), ys.max(), xs.min(), xs.max()


# ----------------------------------------------------------------------------- extractor
def test_a_pale_product_on_white_is_stretched_and_others_are_left_as_they_are():
    """A cream shoe on white (darkest pixel ~210) lost its lines and was skipped as blank (QA
    pass; scripts/pale_catalogue.py measures the search); a photo with dark pixels is untouched."""
    unstretched = EdgeSpec(pale_above=255.0)
    normal = product()
    np.testing.assert_array_equal(photo_to_edges(normal), photo_to_edges(normal, unstretched))
    pale = Image.fromarray((255 - (255 - np.asarray(normal, np.float32)) * 0.15).astype(np.uint8))
    with pytest.raises(ImageError, match="no edges found"):
        photo_to_edges(pale, unstretched)
    lines = photo_to_edges(pale) < 200
    assert np.abs(lines.mean() - (photo_to_edges(normal) < 200).mean()) < 0.01  # about the normal photo's lines
    with pytest.raises(ImageError, match="no edges found"):  # a blank page is still blank, not stretched noise
        photo_to_edges(Image.new("RGB", (300, 300), (252, 252, 252)))


def test_edge_map_style():
    edge_map = photo_to_edges(png_bytes(product()))
    assert edge_map.shape == (256, 256) and edge_map.dtype == np.uint8
    assert (edge_map[:8] == 255).all() and (edge_map[:, :8] == 255).all()  # white paper at the border
    ink = (edge_map < 200).mean()
    assert 0.005 < ink < 0.15  # thin lines, not filled regions
    y0, y1, x0, x1 = ink_box(edge_map)
    spec = EdgeSpec()
    longer = max(y1 - y0, x1 - x0) + 1
    assert abs(longer - (spec.size - 2 * spec.margin)) <= 8  # object scaled to the frame
    assert abs((x0 + x1) / 2 - 127.5) <= 6 and abs((y0 + y1) / 2 - 127.5) <= 6  # centred


def test_placement_and_size_do_not_matter():
    big = photo_to_edges(png_bytes(product((1024, 1024))))
    small = product((256, 256))
    shifted = Image.new("RGB", (600, 420), (255, 255, 255))
    shifted.paste(small, (300, 150))
    moved = photo_to_edges(png_bytes(shifted))
    for a in (big, moved):
        assert abs(np.array(ink_box(a)) - np.array(ink_box(photo_to_edges(png_bytes(product()))))).max() <= 8


def test_odd_files(tmp_path):
    kinds = odd_files(tmp_path)
    plain = photo_to_edges(tmp_path / "plain.jpg")
    for name, kind in kinds.items():
        if kind == "ok":
            edge_map = photo_to_edges(tmp_path / name)
            assert edge_map.shape == (256, 256)
            assert 0.005 < (edge_map < 200).mean() < 0.2, name
        else:
            with pytest.raises(ImageError) as info:
                photo_to_edges(tmp_path / name)
            assert str(info.value), name
    # orientation applied, transparency = white, colour modes agree with the plain photo
    for name in ("rotated.jpg", "transparent.png", "grey.png", "cmyk.jpg", "deep16.png", "photo.webp"):
        other = photo_to_edges(tmp_path / name)
        assert abs(np.array(ink_box(other)) - np.array(ink_box(plain))).max() <= 6, name
        near_plain = np.asarray(Image.fromarray(plain).filter(ImageFilter.MinFilter(5))) < 200
        assert ((other < 200) & near_plain).sum() / max(1, (other < 200).sum()) > 0.6, name


def test_error_messages(tmp_path):
    kinds = odd_files(tmp_path)
    assert kinds
    with pytest.raises(ImageError, match="decompression bomb|too large"):
        open_photo(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="damaged or truncated"):
        photo_to_edges(tmp_path / "truncated.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg: the file is empty"):
        photo_to_edges(tmp_path / "empty.jpg")
    # a camera JPEG over the limit is decoded at 1/2 to 1/8 (found by a QA pass: 61 MP photos were
    # refused); a PNG, decoded whole, is still refused from its header
    big = Image.new("RGB", (2000, 1500), "white")
    big.save(tmp_path / "camera.jpg")
    big.save(tmp_path / "camera.png")
    assert max(open_photo(tmp_path / "camera.jpg", max_pixels=1_000_000).size) < 2000
    for name, draft in (("camera.png", 640), ("camera.jpg", None)):
        with pytest.raises(ImageError, match="2000 x 1500 pixels is more than the 1,000,000 allowed"):
            open_photo(tmp_path / name, max_pixels=1_000_000, draft=draft)
    with pytest.raises(ImageError, match="not a picture"):
        photo_to_edges(tmp_path / "notes.jpg")
    with pytest.raises(ImageError, match="too small"):
        photo_to_edges(tmp_path / "tiny.png")
    with pytest.raises(ImageError, match="no object"):
        photo_to_edges(tmp_path / "blank.png")
    with pytest.raises(ImageError):
        photo_to_edges(np.zeros((2, 2, 3), np.uint8))
    assert issubclass(ImageError, ValueError)


def test_busy_background_and_arrays():
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    edge_map = photo_to_edges(noisy)  # no plain background: the whole frame is used, no crash
    assert edge_map.shape == (256, 256)
    grey = np.asarray(product().convert("L"))
    assert photo_to_edges(grey).shape == (256, 256)


# ----------------------------------------------------------------------------- indexing
class IndexEngine(FakeEngine):
    """The app tests' fake engine plus the batch encoder the indexer uses; counts encoded images."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.load()
        self.encoded_images = 0

    def encode_rasters(self, images: np.ndarray, batch_size: int = 64, canonical_facing: bool = False) -> Codes:
        self.encoded_images += len(images)
        pooled = (255.0 - images.astype(np.float64)).reshape(len(images), 8, 32, 8, 32).mean(axis=(2, 4))
        pooled = pooled.reshape(len(images), -1) / 255.0
        embeddings = (pooled @ self._projection).astype(np.float32)
        probs = (1 / (1 + np.exp(-(pooled @ self._attr_projection)))).astype(np.float32)
        return Codes(embeddings, probs)

    def encode_image(self, image):
        from fgsbir_core.raster import read_sketch_picture

        if isinstance(image, (str, Path)):
            image = read_sketch_picture(image)
        return super().encode_image(image)

    def encode_file(self, path):
        return self.encode_image(path)


def make_engine():
    weights = bundled_weights("shoes")
    if weights.is_file():
        from fgsbir_core.engine import Engine

        engine = Engine("shoes")
        engine.load()
        counted = engine.encode_rasters

        def encode(images, batch_size=64, canonical_facing=False):
            engine.encoded_images += len(images)
            return counted(images, batch_size, canonical_facing)

        engine.encoded_images = 0
        engine.encode_rasters = encode
        return engine
    return IndexEngine()


def write_photos(folder: Path, n: int, start: int = 0) -> list[str]:
    names = []
    for i in range(start, start + n):
        name = f"{'a' if i % 2 else 'b/c'}/p{i:03d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        colour = (30 + 20 * (i % 10), 200 - 15 * (i % 12), 90 + 11 * (i % 7))
        product((320, 320), colour=colour, seed=i).save(folder / name, quality=90)
        names.append(name)
    return names


def test_index_odd_folder(tmp_path):
    folder = tmp_path / "photos"
    kinds = odd_files(folder)
    engine = make_engine()
    progress = []
    catalogue, skipped = build_folder_catalogue(engine, folder, progress=lambda d, t: progress.append((d, t)))
    good = sorted(n for n, k in kinds.items() if k == "ok")
    bad = sorted(n for n, k in kinds.items() if k == "bad")
    assert catalogue.ids == good
    assert [p for p, _ in skipped] == bad
    assert all(reason for _, reason in skipped)
    assert len(catalogue.embeddings) == len(catalogue.attribute_probs) == len(good)
    assert catalogue.edge_maps.shape == (len(good), 64, 64)
    assert catalogue.source == str(folder.resolve())
    picture = catalogue.thumbnail_loader(good.index("rotated.jpg"))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    plain = catalogue.thumbnail_loader(good.index("plain.jpg"))
    assert np.abs(picture.astype(int) - plain.astype(int)).mean() < 8  # EXIF orientation applied
    assert catalogue.thumbnail_loader(good.index("sub/wide.JPG")).shape[:2] == (69, 160)
    # the large view asks for more pixels of the same file (not the grid's thumbnail blown up)
    assert catalogue.thumbnail(good.index("sub/wide.JPG"), size=256).shape[:2] == (110, 256)
    assert catalogue.photo_file(good.index("sub/wide.JPG")) == folder.resolve() / "sub" / "wide.JPG"  # "Open photo file"
    assert progress[0] == (0, len(kinds)) and progress[-1] == (len(kinds), len(kinds))  # shown before any file is read
    assert engine.encoded_images == len(good)
    # bad files are remembered: the next run neither re-encodes nor re-reads anything
    calls = []
    original = user_catalogue.edge_maps_of_files
    user_catalogue.edge_maps_of_files = lambda paths: calls.extend(paths) or original(paths)
    try:
        again, skipped_again = build_folder_catalogue(engine, folder)
    finally:
        user_catalogue.edge_maps_of_files = original
    assert calls == [] and engine.encoded_images == len(good)
    assert again.ids == good and skipped_again == skipped
    np.testing.assert_allclose(again.embeddings, catalogue.embeddings)


def test_incremental_reindex(tmp_path):
    folder = tmp_path / "photos"
    names = write_photos(folder, 6)
    engine = make_engine()
    stats = {}
    catalogue, skipped = build_folder_catalogue(engine, folder, stats=stats)
    assert skipped == [] and catalogue.ids == sorted(names)
    assert engine.encoded_images == 6 and stats["encoded"] == 6
    before = dict(zip(catalogue.ids, np.asarray(catalogue.embeddings)))

    # nothing changed
    build_folder_catalogue(engine, folder, stats=stats)
    assert 0 <= stats.pop("mirrored") <= 6  # photos judged to face the other way (fgsbir_core.facing)
    assert engine.encoded_images == 6 and stats == {"encoded": 0, "reused": 6, "removed": 0, "skipped": 0, "total": 6}

    # add two, change one (new content), remove one, rename one, touch one
    added = write_photos(folder, 2, start=100)
    product((320, 320), colour=(200, 30, 30), seed=55).save(folder / names[0], quality=90)
    (folder / names[1]).unlink()
    (folder / names[2]).rename(folder / "renamed.jpg")
    import os

    os.utime(folder / names[3], ns=(1_000_000_000, 1_000_000_000))
    catalogue, _ = build_folder_catalogue(engine, folder, stats=stats)
    assert engine.encoded_images == 6 + 3  # two added + one changed; renamed and touched reused
    assert stats["encoded"] == 3 and stats["removed"] == 2 and stats["total"] == 7
    expected = sorted(set(names) - {names[1], names[2]} | set(added) | {"renamed.jpg"})
    assert catalogue.ids == expected
    after = dict(zip(catalogue.ids, np.asarray(catalogue.embeddings)))
    np.testing.assert_array_equal(after["renamed.jpg"], before[names[2]])
    np.testing.assert_array_equal(after[names[3]], before[names[3]])
    assert not np.array_equal(after[names[0]], before[names[0]])
    # the stored index loads without scanning, and old generations were tidied
    cached = load_folder_catalogue(engine, folder)
    assert cached.ids == expected
    manifest = manifest_path(folder, engine.model_hash)
    files = sorted(p.name for p in manifest.parent.iterdir() if p.name.startswith(manifest.stem + "."))
    assert len(files) == 4, files  # manifest + npz + embeddings + edge thumbnails
    info = json.loads(manifest_path(folder, engine.model_hash).read_text())
    assert info["count"] == 7 and info["folder"] == str(folder.resolve())
    # everything removed
    for name in expected:
        (folder / name).unlink()
    empty, _ = build_folder_catalogue(engine, folder)
    assert len(empty) == 0


def test_a_new_photo_is_read_once_and_an_unreadable_one_is_tried_again(tmp_path, monkeypatch):
    """A first index hashed every file on its own before decoding it (the whole folder read twice,
    and the progress stuck at 0 meanwhile). Now a
    file with no old photo of its size is hashed by its decoder, from the bytes it decodes. A file
    that could not be read at all (no permission, gone) is not remembered as a bad photo: a chmod
    keeps its mtime, so it must be read again next time."""
    import hashlib

    from fgsbir_core import edges

    folder = tmp_path / "photos"
    names = write_photos(folder, 4)
    hashed_apart = []
    monkeypatch.setattr(user_catalogue, "sha256_file", lambda path: hashed_apart.append(path) or "x")
    real_read = edges.open_hashed
    denied = str(folder / names[1])
    monkeypatch.setattr(edges, "open_hashed", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if path == denied else real_read(path))
    engine = make_engine()
    catalogue, skipped = build_folder_catalogue(engine, folder)
    assert hashed_apart == [] and skipped == [(names[1], "cannot read: Permission denied")]
    index = load_folder_index(manifest_path(folder, engine.model_hash))
    assert index.skipped == {}
    assert index.hashes == [hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in index.ids]
    monkeypatch.setattr(edges, "open_hashed", real_read)  # "chmod a+r": the same size and mtime
    catalogue, skipped = build_folder_catalogue(engine, folder)
    assert skipped == [] and catalogue.ids == sorted(names) and engine.encoded_images == 4


@pytest.mark.parametrize("stop", [InterruptedError, KeyboardInterrupt])
def test_a_stopped_index_keeps_what_was_finished(tmp_path, stop):
    """The window's Cancel (cancel() says stop) and Ctrl+C on the command line (found by a QA pass:
    it threw every finished photo away) both save the photos finished so far."""
    folder = tmp_path / "photos"
    write_photos(folder, 5)
    engine = make_engine()
    user_catalogue_batch = user_catalogue.BATCH
    user_catalogue.BATCH = 2

    def cancel():
        if engine.encoded_images >= 2 and stop is KeyboardInterrupt:
            raise KeyboardInterrupt
        return engine.encoded_images >= 2

    try:
        with pytest.raises(stop):
            build_folder_catalogue(engine, folder, cancel=cancel)
    finally:
        user_catalogue.BATCH = user_catalogue_batch
    done = engine.encoded_images
    assert 2 <= done < 5
    catalogue, _ = build_folder_catalogue(engine, folder)
    assert len(catalogue) == 5 and engine.encoded_images == 5  # only the rest was encoded


def test_decoding_processes_match_threads(tmp_path, monkeypatch):
    """Big jobs are decoded in worker processes: same catalogue and skip list as on threads."""
    folder = tmp_path / "photos"
    write_photos(folder, 12)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    engine = make_engine()
    made = []
    real_pool = user_catalogue._decoding_pool
    monkeypatch.setattr(user_catalogue, "_decoding_pool", lambda jobs: made.append(real_pool(jobs)) or made[-1])
    monkeypatch.setattr(user_catalogue, "PROCESS_MIN", 1)
    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path / "by_processes"))
    by_processes, skipped_p = build_folder_catalogue(engine, folder)
    monkeypatch.setattr(user_catalogue, "PROCESS_MIN", 10_000)
    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path / "by_threads"))
    by_threads, skipped_t = build_folder_catalogue(engine, folder)
    assert [type(pool).__name__ for pool in made] == (
        ["ProcessPoolExecutor", "ThreadPoolExecutor"] if user_catalogue.READ_WORKERS > 1 else ["ThreadPoolExecutor"] * 2)
    assert by_processes.ids == by_threads.ids and len(by_processes) == 12
    assert skipped_p == skipped_t and [name for name, _ in skipped_p] == ["broken.jpg"]
    np.testing.assert_array_equal(np.asarray(by_processes.edge_maps), np.asarray(by_threads.edge_maps))
    np.testing.assert_allclose(by_processes.embeddings, by_threads.embeddings, atol=1e-6)


def test_dead_decoding_process_falls_back(tmp_path, monkeypatch):
    """Worker processes that die (here: at start) cost speed, not photos."""
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    folder = tmp_path / "photos"
    names = write_photos(folder, 20)
    monkeypatch.setattr(user_catalogue, "_decoding_pool", lambda jobs: ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=sys.exit))
    catalogue, skipped = build_folder_catalogue(make_engine(), folder)
    assert catalogue.ids == sorted(names) and skipped == []


def test_model_change_reindexes_and_damaged_cache(tmp_path):
    folder = tmp_path / "photos"
    write_photos(folder, 2)
    engine = make_engine()
    build_folder_catalogue(engine, folder)
    manifest = manifest_path(folder, engine.model_hash)
    manifest.write_text("{not json")
    build_folder_catalogue(engine, folder)
    assert engine.encoded_images == 4  # damaged manifest: rebuilt, never an error
    data = manifest.parent / f"{manifest.stem}.{json.loads(manifest.read_text())['generation']}.npz"
    data.write_bytes(data.read_bytes()[:100])  # cut short: a zip without its directory
    build_folder_catalogue(engine, folder)
    assert engine.encoded_images == 6  # rebuilt again
    other = IndexEngine()
    other.model_hash = "another-model"
    build_folder_catalogue(other, folder)
    assert other.encoded_images == 2


def test_not_a_folder(tmp_path):
    with pytest.raises(ValueError):
        build_folder_catalogue(IndexEngine(), tmp_path / "missing")


def test_a_folder_that_cannot_be_listed_is_named(tmp_path, monkeypatch):
    """chmod 700 by another user: said as such, not as a missing SHA256SUMS or "no photos"."""
    from fgsbir_core.data import DataError

    folder = tmp_path / "theirs"
    write_photos(folder, 2)
    real = os.scandir

    def scandir(path=".", *args):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError, match="Cannot read the folder .*theirs: Permission denied"):
        build_folder_catalogue(make_engine(), folder)
    engine = make_engine()
    with pytest.raises(DataError, match="Cannot read the folder"):
        engine.load_catalogue(folder)
    outer = tmp_path / "outer"  # a subfolder nobody can list: searched without it, and said so
    write_photos(outer / "ok", 2)
    folder.rename(outer / "theirs")
    folder = outer / "theirs"
    catalogue, skipped = build_folder_catalogue(make_engine(), outer)
    assert len(catalogue) == 2 and skipped == [("theirs/", "cannot read the folder: Permission denied")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX pipes and links")
def test_scan_follows_linked_folders_once_and_leaves_out_special_files(tmp_path):
    folder, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    write_photos(folder, 1)
    write_photos(elsewhere, 2, start=10)
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    (folder / "b" / "loop").symlink_to(folder, target_is_directory=True)  # would walk forever
    os.mkfifo(folder / "pipe.jpg")  # reading it would wait for a writer forever
    (folder / "zero.jpg").symlink_to("/dev/zero")  # endless bytes
    (folder / "gone.jpg").symlink_to(tmp_path / "nothing.jpg")  # broken: kept, and skipped with a reason
    found = user_catalogue.scan_folder(folder)
    assert found == sorted(
        ["b/c/p000.jpg", "gone.jpg", "linked/b/c/p010.jpg", "linked/a/p011.jpg"])
    catalogue, skipped = build_folder_catalogue(make_engine(), folder)
    assert len(catalogue) == 3 and [name for name, _ in skipped] == ["gone.jpg"]
    # one deleted between the listing and its decoding is gone, not "damaged or truncated" (QA pass)
    from fgsbir_core.edges import edge_maps_of_files

    assert edge_maps_of_files([str(tmp_path / "deleted.jpg")]) == [
        (None, "the file is gone (moved or deleted while the folder was read).", None)]


def test_scan_leaves_out_links_to_folders_above_and_can_be_cancelled(tmp_path, monkeypatch):
    """Found by a review: a link to `/` (or to any folder holding this one) listed the whole disk,
    with no progress and no way to cancel."""
    folder = tmp_path / "shop" / "photos"
    write_photos(folder, 1)
    write_photos(tmp_path / "elsewhere", 2, start=10)
    (folder / "root").symlink_to("/", target_is_directory=True)
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)
    unreadable = []
    assert user_catalogue.scan_folder(folder, unreadable) == ["b/c/p000.jpg"]
    assert unreadable == [(name, "a link to a folder that holds this one: left out") for name in ("root/", "up/")]
    catalogue, skipped = build_folder_catalogue(make_engine(), folder)
    assert len(catalogue) == 1 and [name for name, _ in skipped] == ["root/", "up/"]
    # the count found so far is reported while listing (here at every folder), and a cancel stops it
    counts, progress = [], []
    with monkeypatch.context() as patch:  # a clock that moves a second at each look
        clock = itertools.count()
        patch.setattr(user_catalogue.time, "monotonic", lambda: next(clock))
        user_catalogue.scan_folder(folder, found_so_far=counts.append)
        build_folder_catalogue(make_engine(), folder, progress=lambda done, total: progress.append((done, total)))
    assert counts and counts == sorted(counts)
    assert progress[0] == (0, 0) and progress[-1] == (1, 1)  # (found, 0) while listing, then (done, total)
    with pytest.raises(InterruptedError):
        user_catalogue.scan_folder(folder, cancel=lambda: True)


def test_two_programs_saving_one_folders_index_at_once_leave_a_usable_index(tmp_path, monkeypatch):
    """Review: each save deleted every other generation, so a second program's save between this
    one's data files and its manifest left the manifest naming deleted files."""
    folder = tmp_path / "photos"
    write_photos(folder, 3)
    engine = make_engine()
    build_folder_catalogue(engine, folder)
    manifest = manifest_path(folder, engine.model_hash)
    index = user_catalogue.load_folder_index(manifest, mmap=False)
    real_write = user_catalogue.atomic_write_bytes
    other_saved = []

    def write_with_another_save_first(path, data):  # the other program commits just before this one
        if Path(path) == manifest and not other_saved:
            other_saved.append(True)
            user_catalogue.save_folder_index(manifest, index, str(folder), engine.model_hash)
        real_write(path, data)

    monkeypatch.setattr(user_catalogue, "atomic_write_bytes", write_with_another_save_first)
    user_catalogue.save_folder_index(manifest, index, str(folder), engine.model_hash)
    monkeypatch.undo()
    assert other_saved and user_catalogue.load_folder_index(manifest) is not None
    # the other program's generation is left (young); a later save tidies what is over an hour old
    stems = {p.name.split(".")[1] for p in manifest.parent.glob(manifest.stem + ".*") if p.name != manifest.name}
    assert len(stems) == 2
    for path in manifest.parent.glob(manifest.stem + ".*"):
        os.utime(path, (time.time() - 7200,) * 2)
    user_catalogue.save_folder_index(manifest, index, str(folder), engine.model_hash)
    assert len(list(manifest.parent.glob(manifest.stem + ".*"))) == 4  # manifest + this generation's 3 files
    assert user_catalogue.load_folder_index(manifest) is not None


def test_photos_of_kinds_not_read_are_listed_as_skipped(tmp_path):
    folder = tmp_path / "photos"
    write_photos(folder, 2)
    (folder / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")  # an iPhone's photo
    catalogue, skipped = build_folder_catalogue(make_engine(), folder)
    assert len(catalogue) == 2 and skipped == [("IMG_0001.HEIC", "HEIC pictures are not read: save it as JPEG or PNG")]


def test_photo_folder_with_category_named_subfolders_is_not_the_benchmark(tmp_path):
    from fgsbir_core.data import is_photo_folder

    write_photos(tmp_path / "products" / "shoes", 1)
    (tmp_path / "products" / "attributes").mkdir()
    (tmp_path / "products" / "SHA256SUMS").write_text(f"{'0' * 64}  shoes/photo_000.jpg\n")  # sums of its own photos (QA pass)
    assert is_photo_folder(tmp_path / "products")
    data = tmp_path / "data"
    (data / "chairs").mkdir(parents=True)
    (data / "chairs" / "chairs_annotation.json").write_text("{}")
    assert not is_photo_folder(data)
    fetching = tmp_path / "fetching"  # a download begun: its sums came first
    fetching.mkdir()
    (fetching / "SHA256SUMS").write_text(f"{'0' * 64}  shoes/shoes_annotation.json\n")
    assert not is_photo_folder(fetching)


def test_export_faiss(tmp_path):
    faiss = pytest.importorskip("faiss")
    folder = tmp_path / "photos"
    write_photos(folder, 4)
    catalogue, _ = build_folder_catalogue(make_engine(), folder)
    path = export_faiss(catalogue, tmp_path / "out" / "photos.faiss")
    index = faiss.read_index(str(path))
    assert index.ntotal == 4 and index.d == catalogue.embeddings.shape[1]
    _, found = index.search(np.ascontiguousarray(catalogue.embeddings[2:3], np.float32), 1)
    assert found[0, 0] == 2
    assert json.loads(Path(f"{path}.ids.json").read_text()) == catalogue.ids
    hnsw = faiss.read_index(str(export_faiss(catalogue, tmp_path / "h.faiss", kind="hnsw")))
    assert hnsw.ntotal == 4


def test_cli_index_and_query(tmp_path, monkeypatch, capsys):
    import argparse

    import fgsbir_core.engine as engine_module
    from fgsbir_core.catalogue_cli import add_commands, query_catalogue_json

    monkeypatch.setattr(engine_module, "Engine", lambda category, weights=None: IndexEngine(category, weights))
    folder = tmp_path / "photos"
    names = write_photos(folder, 3)
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["index", str(folder), "--category", "shoes"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "3 photos indexed" in out and "1 skipped" in out and "broken.png" in out
    sketch = tmp_path / "sketch.png"
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).line([(20, 200), (150, 60), (280, 200)], fill=0, width=3)
    image.save(sketch)
    result = query_catalogue_json([sketch], folder, "shoes", top=2)
    assert "note: skipped broken.png:" in capsys.readouterr().err  # searched without it, and said so
    assert [r["file"] for r in result[0]["results"]] == [str(folder.resolve() / r["id"]) for r in result[0]["results"]]
    off = IndexEngine("shoes")
    off.facing_note = "shoes_facing.npz is damaged"
    monkeypatch.setattr(engine_module, "Engine", lambda category, weights=None: off)
    query_catalogue_json([sketch], folder, "shoes", top=2)
    assert "note: shoes_facing.npz is damaged: sketches are turned to face like their nearest photos" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a photo")
    args = parser.parse_args(["index", str(tmp_path / "empty"), "--category", "shoes"])
    with pytest.raises(ValueError, match="No photos in .*jpg, jpeg, jfif, png, webp, bmp"):
        args.func(args)
    with pytest.raises(ValueError, match="No photos in"):
        query_catalogue_json([sketch], tmp_path / "empty", "shoes")
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "broken.png").write_bytes(b"\x89PNG broken")
    args = parser.parse_args(["index", str(tmp_path / "allbad"), "--category", "shoes"])
    capsys.readouterr()
    with pytest.raises(ValueError, match="No readable photo in .*allbad: all 1 were skipped .each is listed above"):
        args.func(args)  # an error, not "0 photos indexed" and exit 0
    assert "note: skipped broken.png:" in capsys.readouterr().err
    assert result[0]["sketch"] == str(sketch)
    assert len(result[0]["results"]) == 2
    first = result[0]["results"][0]
    assert first["id"] in names and isinstance(first["score"], float)
    assert set(first["attributes"]) == set(FakeEngine.ATTRIBUTES)


def test_random_pictures_never_crash():
    """Any decodable picture gives an edge map or an ImageError, nothing else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(1, 90), st.integers(1, 90), st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "I;16", "CMYK", "1"]),
           st.sampled_from(["PNG", "JPEG", "WEBP"]), st.integers(0, 2**32 - 1), st.booleans())
    def check(width, height, mode, fmt, seed, flat):
        rng = np.random.default_rng(seed)
        if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
            mode = "RGB"
        if fmt == "WEBP" and mode not in ("RGB", "RGBA"):
            mode = "RGB"
        if fmt == "PNG" and mode == "CMYK":
            mode = "RGB"
        array = np.full((height, width, 3), int(rng.integers(0, 256)), np.uint8) if flat else \
            rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(array).convert(mode if mode != "I;16" else "L")
        if mode == "I;16":
            image = Image.fromarray(np.asarray(image, np.uint16) * 257)
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        try:
            edge_map = photo_to_edges(buffer.getvalue())
        except ImageError:
            return
        assert edge_map.shape == (256, 256) and edge_map.dtype == np.uint8

    check()


def test_decoding_processes_leave_when_their_parent_is_killed(tmp_path):
    """A SIGKILLed app (or a logout's SIGTERM) cannot shut its pool down; its decoding processes
    must not live on as orphans."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from fgsbir_core import user_catalogue as uc\n"
        "pool = uc._decoding_pool(uc.PROCESS_MIN)\n"
        "futures = [pool.submit(time.sleep, 0.2) for _ in range(4)]\n"
        "[f.result() for f in futures]\n"
        "print(' '.join(str(p) for p in getattr(pool, '_processes', ())) or 'threads', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                             stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline().strip()
    if line == "threads":  # one core: photos are decoded on threads, nothing can be orphaned
        child.kill()
        pytest.skip("this machine decodes on threads")
    workers = [int(p) for p in line.split()]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
    assert not alive, f"orphaned decoding processes {alive}"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return "Z"


def test_a_cache_that_cannot_be_written_is_said(tmp_path, monkeypatch, capsys):
    """Found by a QA pass: with a read-only cache every query indexed the whole folder again, in silence."""
    from fgsbir_core.catalogue_cli import query_catalogue_json

    folder = tmp_path / "photos"
    write_photos(folder, 3)
    (tmp_path / "cache-is-a-file").write_text("")
    monkeypatch.setenv("FGSBIR_CACHE", str(tmp_path / "cache-is-a-file"))
    catalogue, _ = build_folder_catalogue(make_engine(), folder)
    assert len(catalogue) == 3 and "cannot be saved" in catalogue.unsaved and "indexed again next time" in catalogue.unsaved
    sketch = tmp_path / "s.png"
    Image.fromarray(np.where(np.eye(64, dtype=bool), 0, 255).astype(np.uint8)).save(sketch)
    if bundled_weights("shoes").is_file():
        query_catalogue_json([str(sketch)], folder, "shoes", top=2)
        assert "note: the photo index cannot be saved" in capsys.readouterr().err
        from fgsbir_core.cli import main

        assert main(["index", str(folder), "--category", "shoes"]) == 2  # saving it is `index`'s whole job
        assert "error: the photo index cannot be saved" in capsys.readouterr().err


def test_a_photo_gone_for_a_moment_while_indexing_is_read_when_back(tmp_path, monkeypatch):
    """Found by a threading review: a photo moved away while being indexed (or a drive's read
    error) was remembered as skipped under its size and mtime, so F5 never read it once back."""
    import shutil

    folder = tmp_path / "photos"
    names = write_photos(folder, 4)
    victim, aside = folder / names[0], tmp_path / "aside.jpg"
    real = user_catalogue.edge_maps_of_files

    def decode_while_moved(paths, *args, **kwargs):
        if victim.exists():
            shutil.move(victim, aside)  # mv keeps its size and mtime
        try:
            return real(paths, *args, **kwargs)
        finally:
            shutil.move(aside, victim)

    monkeypatch.setattr(user_catalogue, "edge_maps_of_files", decode_while_moved)
    monkeypatch.setattr(user_catalogue, "PROCESS_MIN", 10_000)  # threads, so the patch applies
    engine = IndexEngine()
    _, skipped = build_folder_catalogue(engine, folder)
    assert [name for name, _ in skipped] == [names[0]]
    monkeypatch.setattr(user_catalogue, "edge_maps_of_files", real)
    again, skipped = build_folder_catalogue(engine, folder)
    assert names[0] in again.ids and skipped == []


def test_a_file_that_stays_unreadable_does_not_rewrite_the_index(tmp_path, monkeypatch):
    """Review of the read-once change: a file unreadable at every load sent the whole index to be
    written again each time (seconds for a large folder)."""
    from fgsbir_core import edges

    folder = tmp_path / "photos"
    names = write_photos(folder, 4)
    denied, real_open = str(folder / names[1]), edges.open_hashed
    monkeypatch.setattr(edges, "open_hashed", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if path == denied else real_open(path))
    engine = IndexEngine()
    build_folder_catalogue(engine, folder)
    saves, real_save = [], user_catalogue.save_folder_index
    monkeypatch.setattr(user_catalogue, "save_folder_index", lambda *a, **k: saves.append(1) or real_save(*a, **k))
    _, skipped = build_folder_catalogue(engine, folder)
    assert [name for name, _ in skipped] == [names[1]] and saves == []


def test_running_out_of_memory_while_decoding_is_not_remembered(tmp_path, monkeypatch):
    """Review: open_photo turns a MemoryError into an ImageError, which was remembered as a bad
    photo ("damaged or truncated (MemoryError: )") until the file changed."""
    from fgsbir_core import edges

    folder = tmp_path / "photos"
    names = write_photos(folder, 1)
    monkeypatch.setattr(edges, "_decode", lambda *args, **kwargs: (_ for _ in ()).throw(MemoryError()))
    (edge_map, reason, digest), = edges.edge_maps_of_files([str(folder / names[0])])
    assert (edge_map, reason, digest) == (None, "too large to decode (out of memory)", None)
    (folder / "empty.jpg").write_bytes(b"")  # an empty file is the file's own doing: remembered
    (_, reason, digest), = edges.edge_maps_of_files([str(folder / "empty.jpg")])
    assert reason == "the file is empty (0 bytes)." and digest is not None


@pytest.mark.parametrize("kept", ["size", "mtime"])
def test_a_photo_replaced_keeping_its_size_or_its_mtime_is_encoded_again(tmp_path, kept):
    """New content with the same byte size (an uncompressed BMP) and a new mtime, or a new size
    with the old mtime put back (os.utime): encoded again, not reused (found by a mutation pass)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = folder / ("p.bmp" if kept == "size" else "p.jpg")
    product((160, 160), colour=(40, 60, 160), seed=1).save(photo)
    engine, stats = IndexEngine(), {}
    before, _ = build_folder_catalogue(engine, folder, stats=stats)
    old = photo.stat()
    product((160, 160) if kept == "size" else (240, 240), colour=(200, 30, 30), seed=7).save(photo)
    mtime = old.st_mtime_ns + 5_000_000_000 if kept == "size" else old.st_mtime_ns
    os.utime(photo, ns=(mtime, mtime))
    assert (photo.stat().st_size == old.st_size) == (kept == "size") and (photo.stat().st_mtime_ns == old.st_mtime_ns) == (kept == "mtime")
    after, _ = build_folder_catalogue(engine, folder, stats=stats)
    assert stats["encoded"] == 1 and engine.encoded_images == 2
    assert not np.array_equal(np.asarray(after.embeddings), np.asarray(before.embeddings))


def test_a_skipped_file_replaced_by_a_good_photo_is_indexed(tmp_path):
    """A file remembered as unreadable is read again once its size or mtime changes (found by a mutation pass)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photos(folder, 1)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    engine = IndexEngine()
    catalogue, skipped = build_folder_catalogue(engine, folder)
    assert [name for name, _ in skipped] == ["broken.jpg"] and "broken.jpg" not in catalogue.ids
    product((160, 160), seed=3).save(broken, quality=90)
    catalogue, skipped = build_folder_catalogue(engine, folder)
    assert skipped == [] and "broken.jpg" in catalogue.ids


def test_open_hashed_digests_the_whole_of_a_large_file(tmp_path):
    """The digest covers all of a file over 1 MiB, and the file comes back at its start (found by a mutation pass)."""
    import hashlib

    from fgsbir_core.edges import open_hashed

    data = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    handle, digest = open_hashed(str(path))
    with handle:
        assert handle.read(16) == data[:16]
    assert digest == hashlib.sha256(data).hexdigest()

"""Bad input and faults in the Qt-free core: model files, data roots, sketch files, devices, writes."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_io = pytest.importorskip("scipy.io")

from fgsbir_core import engine as engine_module  # noqa: E402
from fgsbir_core.checkpoint import ModelError, save_checkpoint  # noqa: E402
from fgsbir_core.files import atomic_write_bytes  # noqa: E402
from fgsbir_core.data import DataError  # noqa: E402
from fgsbir_core.engine import Engine  # noqa: E402
from fgsbir_core.model import ModelConfig, SketchPhotoNet  # noqa: E402
from fgsbir_core.raster import RasterSpec, SketchError  # noqa: E402
from fgsbir_core.sketch_file import MAX_SKETCH_BYTES, read_sketch, write_sketch  # noqa: E402

NAMES = ["boot", "laces"]
TINY = ModelConfig(work_size=32, cell=8, hog_cell=16, width=4, embedding_dim=8, num_attributes=2, hog_dims=8, dropout=0.0)


def tiny_state(**override) -> dict:
    torch.manual_seed(0)
    model = SketchPhotoNet(TINY)
    state = {
        "model_config": TINY.to_dict(), "model_state": model.state_dict(), "raster_spec": RasterSpec().to_dict(),
        "category": "shoes", "attribute_names": list(NAMES), "attribute_reliability": [1.0, 1.0],
        "fusion_weight": 0.5, "card": {"validation": {"acc@1": 0.25}, "mode": "mtl"},
    }
    state.update(override)
    return state


@pytest.fixture
def weights(tmp_path) -> Path:
    path = tmp_path / "shoes_mtl.pt"
    save_checkpoint(path, tiny_state())
    return path


def load(path, category="shoes") -> Engine:
    eng = Engine(category=category, weights=path)
    eng.load()
    return eng


# ------------------------------------------------------------------------------ model files
def test_test_figures_come_from_the_model_card_beside_the_weights(weights):
    import json

    assert "test" not in load(weights).card  # no card beside it
    card = {"category": "shoes", "mode": "mtl", "test": {"acc_at_1": 0.4}, "validation": {"acc_at_1": 0.3454}}
    weights.with_suffix(".json").write_text(json.dumps(card))
    assert load(weights).card["test"] == {"acc_at_1": 0.4}
    assert load(weights).card["validation"]["acc_at_1"] == 0.3454  # the CV figure About shows (a QA pass: missing)
    for other in ({**card, "category": "chairs"}, {**card, "mode": "triplet"}, "not json {"):
        weights.with_suffix(".json").write_text(other if isinstance(other, str) else json.dumps(other))
        assert "test" not in load(weights).card  # another model's card, or a broken one, is not read


def test_good_tiny_checkpoint_loads(weights):
    eng = load(weights)
    assert eng.attribute_names == NAMES and len(eng.model_hash) == 16 and eng.card["mode"] == "mtl"


def test_the_model_hash_is_of_the_weights_loaded(weights, tmp_path, monkeypatch):
    """Found by a threading review: the weights were read, then the file read again to name the
    model; a file replaced in between (a training run or `fgsbir card` finishing) had its hash
    name caches and folder indexes holding the old model's codes."""
    import hashlib

    other = tmp_path / "other.pt"
    save_checkpoint(other, tiny_state(fusion_weight=0.25))
    loaded = weights.read_bytes()
    real_load = torch.load

    def load_then_replaced(*args, **kwargs):
        state = real_load(*args, **kwargs)
        other.replace(weights)  # the new model lands just after the old one was read
        return state

    monkeypatch.setattr(torch, "load", load_then_replaced)
    eng = load(weights)
    assert eng.default_attribute_weight == 0.5  # the old weights were loaded ...
    assert eng.model_hash == hashlib.sha256(loaded).hexdigest()[:16]  # ... and name the caches


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load(tmp_path / "nope.pt")


def test_truncated_model_file(weights, tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated or not a SketchFind checkpoint"):
        load(cut)


@pytest.mark.parametrize("content", [b"", b"hello", b"PK\x03\x04garbage", json.dumps({"a": 1}).encode()])
def test_foreign_model_files(tmp_path, content):
    path = tmp_path / "foreign.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError):
        load(path)


def test_foreign_torch_file_and_pickled_code_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(ModelError, match="not a SketchFind checkpoint"):
        load(plain)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "x": Evil()}, evil)
    with pytest.raises(ModelError):  # weights_only loading refuses to run code
        load(evil)


def test_model_for_other_category(tmp_path):
    path = tmp_path / "chairs.pt"
    save_checkpoint(path, tiny_state(category="chairs"))
    with pytest.raises(ModelError, match="chairs model, not a shoes model"):
        load(path)


@pytest.mark.parametrize("override, message", [
    ({"attribute_names": ["boot"]}, "attributes"),  # 2 outputs, 1 name
    ({"attribute_names": ["boot", "boot"]}, "twice"),
    ({"attribute_names": "boot,laces"}, "not a list"),
    ({"attribute_reliability": [1.0]}, "reliabilities"),
    ({"fusion_weight": float("nan")}, "fusion weight"),
    ({"raster_spec": {**RasterSpec().to_dict(), "margin": 200}}, "margin"),
    ({"raster_spec": {**RasterSpec().to_dict(), "line_width": -1}}, "line_width"),
    ({"raster_spec": {**RasterSpec().to_dict(), "ink": 255}}, "same grey"),
    ({"raster_spec": {**RasterSpec().to_dict(), "ink_weight": -1}}, "ink_weight"),
    ({"raster_spec": {**RasterSpec().to_dict(), "curve_smoothing": 3}}, "Unknown rasteriser settings"),
    ({"raster_spec": "256px"}, "not a mapping"),
    ({"model_config": {**TINY.to_dict(), "width": "wide"}}, "model configuration"),
    ({"model_config": {**TINY.to_dict(), "embedding_dim": 16}}, "do not fit"),
])
def test_checkpoint_that_does_not_fit_is_a_clear_error(tmp_path, override, message):
    path = tmp_path / "bad.pt"
    save_checkpoint(path, tiny_state(**override))
    with pytest.raises(ModelError, match=message):
        load(path)


# ------------------------------------------------------------------------------ data roots
def write_benchmark(root: Path, n: int = 3, names=NAMES) -> Path:
    rng = np.random.default_rng(0)
    shoes = root / "shoes"
    shoes.mkdir(parents=True)
    ids = {"train": [f"{i}" for i in range(1, n + 1)], "test": [f"{i}" for i in range(n + 1, 2 * n + 1)]}
    for part in ("train", "test"):
        for kind in ("sketch", "edge"):
            images = np.full((n, 64, 64), 255, np.uint8)
            for k in range(n):
                y = int(rng.integers(8, 56))
                images[k, y, 8:56] = 0
                images[k, 8:56, y] = 0
            scipy_io.savemat(shoes / f"shoes_{kind}_db_{part}.mat", {"data": images})
    annotation = {p: {"images": [f"{i}.png" for i in ids[p]], "triplets": [[] for _ in ids[p]]} for p in ids}
    (shoes / "shoes_annotation.json").write_text(json.dumps(annotation))
    (root / "attributes").mkdir()
    rows = ["photo," + ",".join(names)] + [f"{i}," + ",".join("1" for _ in names) for p in ids.values() for i in p]
    (root / "attributes" / "shoes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_catalogue_from_good_tiny_root(weights, tmp_path):
    eng = load(weights)
    catalogue = eng.load_catalogue(write_benchmark(tmp_path / "data"))
    assert len(catalogue) == 6 and catalogue.thumbnail(0).shape == (64, 64)
    assert catalogue.photo_file(0) is None  # benchmark photos are no files of their own


def test_data_root_missing_or_not_a_folder(weights, tmp_path):
    eng = load(weights)
    with pytest.raises(DataError, match="absent is not there .moved, deleted, or on a drive that is not mounted"):
        eng.load_catalogue(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        eng.load_catalogue(tmp_path / "file")


def test_data_root_with_missing_file_names_it(weights, tmp_path):
    root = write_benchmark(tmp_path / "data")
    (root / "shoes" / "shoes_edge_db_test.mat").unlink()
    with pytest.raises(DataError, match="shoes_edge_db_test.mat"):
        load(weights).load_catalogue(root)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape", "annotation", "annotation {}", "annotation []"])
def test_data_root_with_corrupted_file_names_it(weights, tmp_path, damage):
    root = write_benchmark(tmp_path / "data")
    edge = root / "shoes" / "shoes_edge_db_train.mat"
    if damage == "truncate":
        edge.write_bytes(edge.read_bytes()[:200])
    elif damage == "garbage":
        edge.write_bytes(os.urandom(4000))
    elif damage == "wrong_shape":
        scipy_io.savemat(edge, {"data": np.zeros((3, 4), np.float64)})
    elif damage == "annotation":
        (root / "shoes" / "shoes_annotation.json").write_text("{not json")
    else:  # valid JSON, not the benchmark's layout
        (root / "SHA256SUMS").unlink(missing_ok=True)
        (root / "shoes" / "shoes_annotation.json").write_text(damage.split()[1])
    with pytest.raises(DataError) as info:
        load(weights).load_catalogue(root)
    assert "shoes_" in str(info.value)


@pytest.mark.parametrize("table, said", [("", "not an attribute table"), (b"photo,boot\n1,\xff\n", "utf-8"),
                                         ("photo,boot,laces\n1,1,x\n", "line 2: could not convert"),
                                         ("photo,boot,laces\n1,1\n", "line 2: 2 columns where the header has 3")])
def test_a_damaged_attribute_table_is_named(weights, tmp_path, table, said):
    """Found by a QA pass: an empty table was an IndexError traceback, other damage a bare
    "could not convert string to float: 'x'" naming no file."""
    root = write_benchmark(tmp_path / "data")
    target = root / "attributes" / "shoes.csv"
    target.write_bytes(table if isinstance(table, bytes) else table.encode())
    with pytest.raises(DataError) as info:
        load(weights).load_catalogue(root)
    assert str(target) in str(info.value) and said in str(info.value)


def test_data_root_failing_its_checksums(weights, tmp_path):
    root = write_benchmark(tmp_path / "data")
    (root / "SHA256SUMS").write_text("0" * 64 + "  shoes/shoes_edge_db_train.mat\n")
    with pytest.raises(DataError, match="does not match its SHA-256"):
        load(weights).load_catalogue(root)


def test_model_attributes_must_match_the_data(weights, tmp_path):
    root = write_benchmark(tmp_path / "data", names=["heel", "strap"])
    with pytest.raises(ModelError, match="not the shoes attributes"):
        load(weights).load_catalogue(root)


def test_unreadable_colour_photos_fall_back_to_edge_maps(weights, tmp_path):
    root = write_benchmark(tmp_path / "data")
    (root / "shoes" / "shoes_image_db_train.mat").write_bytes(b"not a mat file")
    (root / "shoes" / "shoes_image_db_test.mat").write_bytes(b"not a mat file")
    catalogue = load(weights).load_catalogue(root)
    assert catalogue.photos is None and catalogue.thumbnail(0).ndim == 2


# ------------------------------------------------------------------------------ device faults
@pytest.mark.parametrize("error", [RuntimeError("CUDA error: an illegal memory access was encountered"),
                                   torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   RuntimeError("MPS backend out of memory")])
def test_device_failure_during_query_falls_back_to_cpu(weights, monkeypatch, error):
    eng = load(weights)
    reference = eng.encode_strokes([[(0, 0), (10, 10)], [(0, 10), (10, 0)]])
    calls = []
    real = engine_module.encode_images

    def flaky(model, images, batch_size, device, facing=None, turn=True):
        calls.append(device)
        if device != "cpu":
            raise error
        return real(model, images, batch_size, device, facing, turn)

    monkeypatch.setattr(engine_module, "encode_images", flaky)
    eng.device = "cuda"  # as if the model had been moved to a GPU that now fails
    code = eng.encode_strokes([[(0, 0), (10, 10)], [(0, 10), (10, 0)]])
    assert calls == ["cuda", "cpu"] and eng.device == "cpu"
    np.testing.assert_allclose(code.embedding, reference.embedding, rtol=1e-5, atol=1e-6)
    eng.encode_strokes([[(0, 0), (5, 9)]])
    assert calls[-1] == "cpu"  # stays on the CPU afterwards


def test_cpu_failure_is_raised_not_retried(weights, monkeypatch):
    eng = load(weights)
    monkeypatch.setattr(engine_module, "encode_images", lambda *a: (_ for _ in ()).throw(MemoryError("no RAM")))
    with pytest.raises(MemoryError):
        eng.encode_strokes([[(0, 0), (10, 10)]])


def test_unavailable_device_is_a_fallback_not_an_error(weights):
    eng = load(weights)
    assert eng.set_device("cuda" if not torch.cuda.is_available() else "mps") in ("cpu", "cuda", "mps")
    assert eng.set_device("tpu") == "cpu"


# ------------------------------------------------------------------------------ sketch files
def test_sketch_file_errors_are_sketch_errors(tmp_path):
    cases = {
        "missing.json": None,
        "binary.json": os.urandom(300),
        "text.json": b"hello",
        "nested.json": b"[" * 100_000 + b"]" * 100_000,
        "dict.json": b'{"strokes": 3}',
        "ragged.json": b'{"strokes": [[[0, 0], [1]]]}',
        "nan.json": b'{"strokes": [[[0, 0], [NaN, 1]]]}',
        "latin1.json": '{"strokes": [], "name": "é"}'.encode("latin-1"),
        "other_format.json": b'{"format": "something.else", "strokes": [[[0, 0], [1, 1]]]}',
        "newer.json": b'{"format": "sketchfind.strokes", "version": 99, "strokes": [[[0, 0], [1, 1]]]}',
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(SketchError):
            read_sketch(tmp_path / name)


def test_sketch_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "notepad.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"format": "sketchfind.strokes", "version": 1,
                                                   "strokes": [{"points": [[0, 0], [5, 5]]}]}).encode())
    assert len(read_sketch(path)) == 1


def test_engine_refuses_what_it_cannot_answer(weights, tmp_path):
    """A dot is no sketch; top_k, weights and galleries that mean nothing are errors, not odd answers."""
    eng = load(weights)
    for strokes in ([[(10, 10)]], [[(10, 10), (10, 10)]], [[(0, 0), (1e-9, 1e-9)]]):
        with pytest.raises(SketchError, match="too small to read"):
            eng.encode_strokes(strokes)
    catalogue = eng.load_catalogue(write_benchmark(tmp_path / "data"))
    code = eng.encode_strokes([[(0, 0), (100, 40), (30, 90)]])
    assert len(eng.rank(code, catalogue, top_k=2)) == 2
    for top_k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            eng.rank(code, catalogue, top_k=top_k)
    for w in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="attribute weight"):
            eng.rank(code, catalogue, attribute_weight=w)
    with pytest.raises(ValueError, match="3 per-attribute weights for 2 attributes"):
        eng.rank(code, catalogue, attribute_weights=np.ones(3))
    with pytest.raises(ValueError, match="gallery"):
        eng.load_catalogue(tmp_path / "data", gallery="bogus")


def test_sketch_files_are_told_apart_by_content_as_the_app_does(weights, tmp_path):
    """`fgsbir query` opens what the app opens: a PNG named .json is a picture, a stroke file
    named .png is strokes; SVG and PDF are refused by name, not with a decoder's error."""
    from PIL import Image

    eng = load(weights)
    grey = np.full((120, 160), 255, np.uint8)
    grey[30:90, 40] = grey[30, 40:120] = grey[89, 40:120] = 0
    Image.fromarray(grey).save(tmp_path / "picture.json", format="PNG")
    np.testing.assert_array_equal(eng.encode_file(tmp_path / "picture.json").raster, eng.encode_image(grey).raster)
    strokes = [np.array([[0, 0, 1], [100, 40, 1], [30, 90, 1]], float)]
    write_sketch(tmp_path / "strokes.png", [(np.hstack([s, np.zeros((3, 1))]), 2.0) for s in strokes], (200, 200))
    np.testing.assert_array_equal(eng.encode_file(tmp_path / "strokes.png").raster, eng.encode_strokes(strokes).raster)
    (tmp_path / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>')
    with pytest.raises(SketchError, match="drawing.svg is an SVG drawing"):
        eng.encode_file(tmp_path / "drawing.svg")
    (tmp_path / "notes.png").write_bytes(b"%PDF-1.4 not a sketch")
    with pytest.raises(SketchError, match="notes.png is not a sketch SketchFind can open"):
        eng.encode_file(tmp_path / "notes.png")


def test_a_png_saved_from_strokes_is_queried_as_those_strokes(weights, tmp_path, monkeypatch):
    """Found by a QA pass: Export PNG, then opening or querying that PNG ranked a redrawn picture
    (5 of the top 8 the same) and lost the strokes; the strokes now travel in the PNG."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from fgsbir_core import sketch_file
    from fgsbir_core.sketch_file import PNG_STROKES_KEY, embedded_strokes, png_with_strokes

    eng = load(weights)
    strokes = [np.array([[10, 10, 1, 0], [150, 40, 0.5, 0.1], [40, 110, 1, 0.2]], float),
               np.array([[20, 100, 1, 0.5], [140, 100, 1, 0.6]], float)]
    grey = np.full((120, 160), 255, np.uint8)
    grey[10:110, 20] = 0  # what the window showed; the strokes are what count
    data, carried = png_with_strokes(grey, [(s, 2.5) for s in strokes], (160, 120))
    (tmp_path / "drawing.png").write_bytes(data)
    back = embedded_strokes(tmp_path / "drawing.png")
    assert carried
    assert [w for _, w in back] == [2.5, 2.5] and all(np.allclose(a, b) for (a, _), b in zip(back, strokes))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "drawing.png")), grey)  # still the picture
    np.testing.assert_array_equal(eng.encode_file(tmp_path / "drawing.png").raster,
                                  eng.encode_strokes([s[:, :3] for s in strokes]).raster)
    # edited elsewhere, its text kept: the pixels win
    with Image.open(tmp_path / "drawing.png") as picture:
        info = PngInfo()
        info.add_itxt(PNG_STROKES_KEY, picture.text[PNG_STROKES_KEY], zip=True)
        edited = np.asarray(picture).copy()
    edited[60, 30:150] = 0
    Image.fromarray(edited).save(tmp_path / "edited.png", pnginfo=info)
    assert embedded_strokes(tmp_path / "edited.png") is None
    np.testing.assert_array_equal(eng.encode_file(tmp_path / "edited.png").raster, eng.encode_image(edited).raster)
    # a long drawing goes in several chunks (PIL reads back none over 1 MB; found by a QA pass:
    # 2,000 strokes were dropped in silence)
    monkeypatch.setattr(sketch_file, "PNG_STROKES_PART", 100)
    long = [(np.column_stack([np.arange(50.0), np.arange(50.0) % 7, np.ones(50), np.arange(50) / 10]), 2.0)] * 40
    data, carried = png_with_strokes(grey, long, (160, 120))
    (tmp_path / "long.png").write_bytes(data)
    assert carried and len(embedded_strokes(tmp_path / "long.png")) == 40
    assert sum(key.startswith(PNG_STROKES_KEY) for key in Image.open(tmp_path / "long.png").info) > 100
    # beyond what PIL keeps in all: a plain picture, and the caller is told
    monkeypatch.setattr(sketch_file, "MAX_PNG_STROKES", 1000)
    data, carried = png_with_strokes(grey, long, (160, 120))
    (tmp_path / "huge.png").write_bytes(data)
    assert not carried and embedded_strokes(tmp_path / "huge.png") is None
    assert eng.encode_file(tmp_path / "huge.png") is not None
    for other in ("picture.jpg", "empty.png"):  # other pictures: None, whatever they are
        Image.fromarray(grey).convert("RGB").save(tmp_path / other, format="JPEG" if other.endswith("jpg") else "PNG")
        assert embedded_strokes(tmp_path / other) is None
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert embedded_strokes(tmp_path / "broken.png") is None


def test_sketch_arrays_of_any_kind_read_alike(weights):
    eng = load(weights)
    grey = np.full((120, 160), 255, np.uint8)
    grey[30:90, 40] = grey[30, 40:120] = grey[89, 40:120] = 0
    expected = eng.encode_image(grey).raster
    for kind in (np.repeat(grey[..., None], 3, 2), np.dstack([grey] * 3 + [np.full_like(grey, 255)]),
                 grey / 255.0, grey.astype(np.uint16) * 257, grey < 128, grey >= 128):
        np.testing.assert_array_equal(eng.encode_image(kind).raster, expected)


def test_huge_sketch_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_SKETCH_BYTES + 1)
    with pytest.raises(SketchError, match="too large"):
        read_sketch(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX pipes")
def test_a_pipe_named_like_a_sketch_is_refused_not_waited_on(tmp_path):
    """QA pass: opening a named pipe (mkfifo s.json) froze the window, and `fgsbir query` hung."""
    from fgsbir_core.sketch_file import sniff_sketch

    pipe = tmp_path / "s.json"
    os.mkfifo(pipe)
    for read in (sniff_sketch, read_sketch):
        with pytest.raises(SketchError, match="not a regular file"):
            read(pipe)


def test_a_number_too_large_for_a_float_is_a_sketch_error(tmp_path):
    """QA pass: a 400-digit coordinate raised OverflowError: a traceback from `fgsbir query`."""
    path = tmp_path / "big.json"
    path.write_text('{"strokes": [[[0, 0], [' + "9" * 400 + ', 5]]]}')
    with pytest.raises(SketchError, match="not a list of"):
        read_sketch(path)
    path.write_text('{"strokes": [{"width": ' + "9" * 400 + ', "points": [[0, 0], [5, 5]]}]}')
    assert read_sketch(path)[0][1] is None  # a nonsense width is ignored, as others are


def test_odd_stroke_widths_are_ignored(tmp_path):
    path = tmp_path / "w.json"
    strokes = [{"width": w, "points": [[0, 0], [1, 1]]} for w in (2.5, -1, 1e9, True, "3", None)]
    path.write_text(json.dumps({"strokes": strokes}))
    assert [w for _, w in read_sketch(path)] == [2.5, None, None, None, None, None]


# ------------------------------------------------------------------------------ writes
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "sketch.json"
    write_sketch(path, [(np.array([[0, 0, 1, 0], [5, 5, 1, 0.1]]), 3.0)], (400, 400))
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_sketch(path, [(np.array([[9, 9, 1, 0]]), 3.0)], (400, 400))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sketch.json"]


def test_atomic_write_keeps_permissions_and_follows_links(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.json"
    atomic_write_bytes(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) & 0o044  # not mkstemp's private 0600


def test_write_into_unwritable_place_is_an_oserror(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "file" / "sketch.json", b"data")


def test_forced_facing_overrides_the_catalogue_check(tmp_path):
    eng = Engine("shoes")
    eng.load()
    drawn = eng.encode_strokes([np.array([[10, 10], [200, 40], [220, 200], [30, 180]], float)])
    assert np.array_equal(eng.orient(drawn, None, "mirrored").raster, drawn.mirror.raster)
    assert np.array_equal(eng.orient(drawn, None, "as drawn").embedding, drawn.embedding)
    assert eng.orient(drawn, None).mirror is None  # auto without a catalogue: as drawn
    with pytest.raises(ValueError, match="facing must be one of"):
        eng.orient(drawn, None, "sideways")


def test_facing_by_several_nearest_photos():
    """`neighbours`: the choice follows the mean distance of the k nearest photos, not only the
    nearest one (one photo that happens to match the mirror image decides k = 1 alone)."""
    from fgsbir_core.engine import Catalogue, SketchCode
    from fgsbir_core.retrieval import Codes

    none = np.zeros(0, np.float32)
    raster_drawn, raster_mirrored = np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)
    mirror = SketchCode(np.array([0.0, 1.0], np.float32), none, raster_mirrored)
    drawn = SketchCode(np.array([1.0, 0.0], np.float32), none, raster_drawn, mirror)
    photos = np.array([[0.0, 1.0], [1.0, 0.1], [1.0, 0.1]], np.float32)
    catalogue = Catalogue(["a", "b", "c"], Codes(photos, np.zeros((3, 0), np.float32)))
    eng = Engine("shoes")
    assert np.array_equal(eng.orient(drawn, catalogue, neighbours=1).raster, raster_mirrored)
    assert np.array_equal(eng.orient(drawn, catalogue, neighbours=3).raster, raster_drawn)
    assert np.array_equal(eng.orient(drawn, catalogue, neighbours=50).raster, raster_drawn)  # k beyond the catalogue: all


def test_facing_classifier_score_decides_auto_and_a_forced_facing_still_wins():
    """With a facing classifier the sketch's own score decides "auto" (every catalogue faces the
    benchmark's way); the nearest photos decide only without one (the test above)."""
    from fgsbir_core.engine import Catalogue, SketchCode
    from fgsbir_core.retrieval import Codes

    none = np.zeros(0, np.float32)
    raster_drawn, raster_mirrored = np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)
    photos = np.array([[1.0, 0.0], [1.0, 0.1]], np.float32)  # both near the sketch as drawn
    catalogue = Catalogue(["a", "b"], Codes(photos, np.zeros((2, 0), np.float32)))
    eng = Engine("shoes")
    for score, expected in ((-0.3, raster_mirrored), (0.3, raster_drawn)):
        mirror = SketchCode(np.array([0.0, 1.0], np.float32), none, raster_mirrored, facing_score=-score)
        drawn = SketchCode(np.array([1.0, 0.0], np.float32), none, raster_drawn, mirror, facing_score=score)
        assert np.array_equal(eng.orient(drawn, catalogue).raster, expected)
        assert np.array_equal(eng.orient(drawn, None).raster, expected)  # no catalogue needed
        assert np.array_equal(eng.orient(drawn, catalogue, "as drawn").raster, raster_drawn)
        assert np.array_equal(eng.orient(drawn, catalogue, "mirrored").raster, raster_mirrored)


def test_a_picture_of_a_dot_is_refused_as_a_stroke_file_dot_is(tmp_path):
    """Found by a QA pass: a one-pixel dot was scaled up to the frame (a black square) and ranked,
    where the README promises "error" for a dot."""
    from fgsbir_core.raster import normalise_image

    picture = np.full((256, 256), 255, np.uint8)
    picture[100, 100] = 0
    with pytest.raises(SketchError, match="too small to read"):
        normalise_image(picture)
    picture[100:103, 100:103] = 0  # a speck
    with pytest.raises(SketchError, match="too small to read"):
        normalise_image(picture)
    picture[100, 100:110] = 0  # a short line is a (poor) sketch, not refused
    assert normalise_image(picture).shape == (256, 256)


def test_query_data_root_that_is_no_benchmark_is_an_error_not_an_empty_answer(tmp_path):
    """Found by a QA pass: `fgsbir query --data-root EMPTY` answered [] for every sketch, exit 0
    (the folder was taken for a catalogue of one's own photos)."""
    from fgsbir_core.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "x.png").write_bytes(b"")
    for root in (tmp_path / "empty", tmp_path):
        with pytest.raises(DataError, match="not a benchmark data root.*--catalogue"):
            from fgsbir_core.cli import query_json

            query_json([str(tmp_path / "x.png")], "shoes", data_root=root)
        assert main(["query", "--data-root", str(root), str(tmp_path / "x.png")]) == 2


def test_a_huge_sketch_picture_is_one_line_without_a_warning(weights, tmp_path):
    """Found by a QA pass: PIL's DecompressionBombWarning leaked to stderr before the refusal."""
    import struct
    import warnings
    import zlib

    from fgsbir_core.raster import read_sketch_picture

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 0, 0, 0, 0))
    (tmp_path / "huge.png").write_bytes(header + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(SketchError, match="10000 x 10000 pixels: too large for a sketch"):
            read_sketch_picture(tmp_path / "huge.png")
        with pytest.raises(SketchError, match="10000 x 10000 pixels: too large for a sketch"):
            load(weights).encode_file(tmp_path / "huge.png")  # through the check for strokes it was drawn from
    assert not [w for w in seen if "DecompressionBomb" in type(w.message).__name__]


def test_sigterm_stops_a_command_as_ctrl_c_does():
    """QA pass: SIGTERM (logout, `timeout`) killed `fgsbir index` outright, losing every photo it
    had finished, where Ctrl+C keeps them."""
    import signal
    import time

    from fgsbir_core.cli import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before


# ------------------------------------------------------------------------------ found by a mutation pass
def test_a_negative_fusion_weight_in_a_checkpoint_is_refused(tmp_path):
    """A checkpoint whose fusion weight is -1 is refused with ModelError (found by a mutation pass)."""
    path = tmp_path / "negative.pt"
    save_checkpoint(path, tiny_state(fusion_weight=-1.0))
    with pytest.raises(ModelError, match="fusion weight -1.0 is not a finite non-negative number"):
        load(path)


def test_a_checkpoint_with_more_attribute_names_than_outputs_is_refused(tmp_path):
    """A model with 2 attribute outputs that lists 3 names is refused with ModelError (found by a mutation pass)."""
    path = tmp_path / "three_names.pt"
    save_checkpoint(path, tiny_state(attribute_names=["boot", "laces", "zip"], attribute_reliability=[1.0, 1.0, 1.0]))
    with pytest.raises(ModelError, match="predicts 2 attributes but lists 3 names"):
        load(path)


def _catalogue(embeddings, probs):
    from fgsbir_core.engine import Catalogue
    from fgsbir_core.retrieval import Codes

    return Catalogue([str(i + 1) for i in range(len(embeddings))],
                     Codes(np.asarray(embeddings, np.float32), np.asarray(probs, np.float32)))


def test_per_attribute_weights_of_one_keep_the_reliabilities(tmp_path):
    """User weights scale the labels' reliabilities: all-ones weights rank as no weights do (found by a mutation pass)."""
    from fgsbir_core.engine import SketchCode

    path = tmp_path / "unequal.pt"
    save_checkpoint(path, tiny_state(attribute_reliability=[0.2, 1.0]))
    eng = load(path)
    rng = np.random.default_rng(5)
    catalogue = _catalogue(rng.normal(size=(6, 8)), rng.random((6, 2)))
    code = SketchCode(rng.normal(size=8).astype(np.float32), np.array([0.9, 0.1], np.float32), np.zeros((4, 4), np.uint8))
    plain = eng.distances(code, catalogue, attribute_weight=4.0)
    np.testing.assert_allclose(eng.distances(code, catalogue, 4.0, np.ones(2, np.float32)), plain, rtol=1e-6)
    assert not np.allclose(eng.distances(code, catalogue, 4.0, np.array([1.0, 0.0], np.float32)), plain)


@pytest.fixture(scope="module")
def shoes_engine():
    eng = Engine("shoes")
    eng.load()
    return eng


def _zip_catalogue(eng):
    """Five photos; only the one farthest from the zero sketch (id "5") is read to have a zip."""
    n_attr = len(eng.attribute_names)
    embeddings = np.zeros((5, 128), np.float32)
    embeddings[:, 0] = [0.1, 0.2, 0.3, 0.4, 0.9]
    probs = np.full((5, n_attr), 0.1, np.float32)
    probs[4, eng.attribute_names.index("zip")] = 0.9
    return _catalogue(embeddings, probs)


def test_must_have_keeps_only_the_photos_with_the_attribute_ranked_from_one(shoes_engine):
    """must_have=[zip] with one zip photo of five: that one result alone, at rank 1, showing zip (found by a mutation pass)."""
    from fgsbir_core.engine import SketchCode

    catalogue = _zip_catalogue(shoes_engine)
    code = SketchCode(np.zeros(128, np.float32), np.full(len(shoes_engine.attribute_names), 0.1, np.float32),
                      np.zeros((4, 4), np.uint8))
    assert [r.id for r in shoes_engine.rank(code, catalogue, top_k=5)] == ["1", "2", "3", "4", "5"]
    results = shoes_engine.rank(code, catalogue, must_have=["zip"], top_k=5)
    assert len(results) == 1
    (only,) = results
    assert only.id == "5" and only.index == 4 and only.rank == 1
    assert "zip" in only.present and np.isfinite(only.score)


def test_all_zero_per_attribute_weights_still_rank_the_catalogue(shoes_engine):
    """Per-attribute weights all 0 rank by the embedding alone: top_k finite results, not none (found by a mutation pass)."""
    from fgsbir_core.engine import SketchCode

    catalogue = _zip_catalogue(shoes_engine)
    code = SketchCode(np.zeros(128, np.float32), np.full(len(shoes_engine.attribute_names), 0.1, np.float32),
                      np.zeros((4, 4), np.uint8))
    results = shoes_engine.rank(code, catalogue, attribute_weight=2.0,
                                attribute_weights=np.zeros(len(shoes_engine.attribute_names)), top_k=3)
    assert [r.id for r in results] == ["1", "2", "3"]
    assert [r.score for r in results] == pytest.approx([0.01, 0.04, 0.09])  # the embedding distances alone


def _benchmark_sketch_png(data_root, category, path):
    from PIL import Image

    from fgsbir_core.data import load_benchmark

    Image.fromarray(load_benchmark(category, data_root).test.sketches[0]).save(path)
    return str(path)


def test_query_attribute_weight_reaches_the_ranking(data_root, tmp_path):
    """`fgsbir query --attribute-weight 0` and `4` give different scores for the same sketch (found by a mutation pass)."""
    from fgsbir_core.cli import answer_queries

    sketch = _benchmark_sketch_png(data_root, "shoes", tmp_path / "sketch.png")
    scores = {w: [r["score"] for r in answer_queries([sketch], "shoes", top=3, gallery="test", data_root=data_root,
                                                       attribute_weight=w)[0]["results"]]
              for w in (0.0, 4.0)}
    assert len(scores[0.0]) == len(scores[4.0]) == 3
    assert scores[0.0] != scores[4.0]
    assert scores[4.0][0] > scores[0.0][0]  # attribute distance added on top of the embedding's


def test_query_with_a_triplet_model_refuses_an_attribute_weight(data_root, tmp_path, capsys):
    """`fgsbir query` with the chairs triplet model and --attribute-weight 1 is refused (found by a mutation pass)."""
    from fgsbir_core.cli import main
    from fgsbir_core.engine import bundled_weights

    sketch = _benchmark_sketch_png(data_root, "chairs", tmp_path / "chair.png")
    argv = ["query", "--weights", str(bundled_weights("chairs", "triplet")), "--data-root", str(data_root),
            "--top", "3", "--json", "--attribute-weight", "1", sketch]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "predicts no attributes" in captured.err and captured.out == ""


def test_an_attribute_weight_for_a_triplet_model_is_refused_before_any_photo_is_read(data_root, tmp_path, monkeypatch,
                                                                                      capsys):
    """The refusal came after the gallery was encoded, or a whole folder indexed, for nothing."""
    import fgsbir_core.user_catalogue as user_catalogue
    from fgsbir_core.cli import main
    from fgsbir_core.engine import bundled_weights

    read = []
    monkeypatch.setattr(Engine, "load_catalogue", lambda self, *a, **k: read.append("benchmark"))
    monkeypatch.setattr(user_catalogue, "build_folder_catalogue", lambda *a, **k: read.append("folder"))
    sketch = _benchmark_sketch_png(data_root, "chairs", tmp_path / "chair.png")
    (tmp_path / "photos").mkdir()
    weights = str(bundled_weights("chairs", "triplet"))
    for where in (["--data-root", str(data_root)], ["--catalogue", str(tmp_path / "photos")]):
        assert main(["query", "--weights", weights, *where, "--attribute-weight", "1", sketch]) == 2
        assert "predicts no attributes" in capsys.readouterr().err
    assert read == []

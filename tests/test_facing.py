"""Catalogue photos facing the other way: exact mirroring of the cells, the classifier, and the
folder catalogue that encodes such photos mirrored."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fgsbir_core.engine import Engine, bundled_facing, bundled_weights
from fgsbir_core.facing import FacingClassifier, front_end_settings, mirror_cells
from fgsbir_core.model import ModelConfig, SketchPhotoNet
from fgsbir_core.user_catalogue import build_folder_catalogue, load_folder_catalogue

needs_bundle = pytest.mark.skipif(not (bundled_weights("shoes").is_file() and bundled_facing("shoes").is_file()),
                                  reason="bundled shoes model or facing classifier missing")


def strokes_image(seed: int = 0) -> np.ndarray:
    """A white 256 x 256 picture with a few dark, lopsided strokes."""
    rng = np.random.default_rng(seed)
    image = np.full((256, 256), 255.0, np.float32)
    for _ in range(6):
        r, c = rng.integers(20, 230, 2)
        image[r: r + rng.integers(2, 5), c: c + rng.integers(10, 60)] = 0.0
        image[r: r + rng.integers(10, 60), c: c + rng.integers(2, 5)] = 0.0
    return image


def test_mirrored_cells_are_the_mirrored_pictures_cells():
    model = SketchPhotoNet(ModelConfig(width=8, embedding_dim=16))
    image = torch.from_numpy(strokes_image())[None, None]
    with torch.no_grad():
        direct = model.cells(image.flip(-1))
        mirrored = mirror_cells(model.cells(image))
    assert not torch.allclose(direct, model.cells(image), atol=1e-3)  # the picture is lopsided
    torch.testing.assert_close(mirrored, direct, atol=1e-4, rtol=1e-4)


def test_classifier_fits_saves_and_checks_its_front_end(tmp_path):
    rng = np.random.default_rng(0)
    direction = rng.normal(size=40)
    ours = rng.normal(size=(60, 40)) + 0.5 * direction
    theirs = rng.normal(size=(60, 40)) - 0.5 * direction
    model = SketchPhotoNet(ModelConfig(width=8, embedding_dim=16))
    classifier = FacingClassifier.fit(ours, theirs, front_end_settings(model))
    assert (classifier.scores(ours) > 0).mean() > 0.9 and (classifier.scores(theirs) < 0).mean() > 0.9
    path = tmp_path / "f.npz"
    classifier.save(path, {"what": "test"})
    again = FacingClassifier.load(path)
    np.testing.assert_array_equal(again.scores(ours), classifier.scores(ours))
    assert again.fits(model)
    assert not again.fits(SketchPhotoNet(ModelConfig(width=8, embedding_dim=16, cell=4)))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a facing classifier"):
        FacingClassifier.load(tmp_path / "bad.npz")


def test_classifier_bias_is_fitted_for_unbalanced_offset_classes():
    """Three times as many of one facing, descriptors far from 0: the unpenalised bias is fitted
    and the signs come out right (found by a mutation pass)."""
    rng = np.random.default_rng(1)
    direction = rng.normal(size=6)
    offset = 4.0 * np.ones(6)  # HOG descriptors are all positive, far from the origin
    ours = rng.normal(size=(90, 6)) + 0.8 * direction + offset
    theirs = rng.normal(size=(30, 6)) - 0.8 * direction + offset
    classifier = FacingClassifier.fit(ours, theirs, {}, ridge=1.0)
    assert (classifier.scores(ours) > 0).mean() > 0.9 and (classifier.scores(theirs) < 0).mean() > 0.9
    # the same ridge regression solved with an intercept column that is not penalised
    x = np.concatenate([ours, theirs])
    y = np.concatenate([np.ones(90), -np.ones(30)])
    a = np.hstack([x, np.ones((120, 1))])
    penalty = np.diag([1.0] * 6 + [0.0])
    solution = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    np.testing.assert_allclose(classifier.weights, solution[:6], rtol=1e-4, atol=1e-6)
    assert classifier.bias == pytest.approx(solution[6], rel=1e-4)
    assert classifier.bias == pytest.approx(y.mean() - x.mean(0) @ classifier.weights, rel=1e-4)


@needs_bundle
def test_engine_encodes_a_photo_facing_the_other_way_as_its_mirror(data_root):
    from fgsbir_core.data import load_benchmark

    engine = Engine("shoes")
    engine.load()
    assert engine.facing is not None and engine.facing_id and engine.facing_note == ""
    photos = load_benchmark("shoes", data_root).test.photos[:8]
    turned = np.ascontiguousarray(photos[..., ::-1])
    plain = engine.encode_rasters(photos, canonical_facing=True)
    canonical = engine.encode_rasters(turned, canonical_facing=True)
    assert not plain.mirrored.any() and canonical.mirrored.all()
    np.testing.assert_allclose(canonical.embeddings, plain.embeddings, atol=1e-4)
    np.testing.assert_allclose(canonical.attribute_probs, plain.attribute_probs, atol=1e-4)
    as_is = engine.encode_rasters(turned)  # the default (sketches, benchmark catalogue): as they are
    assert as_is.mirrored is None and not np.allclose(as_is.embeddings, plain.embeddings, atol=1e-2)


@needs_bundle
def test_folder_catalogue_matches_photos_facing_either_way(data_root, tmp_path):
    from fgsbir_core.data import load_benchmark

    folder = tmp_path / "shop"
    folder.mkdir()
    edge_map = load_benchmark("shoes", data_root).test.photos[3]
    Image.fromarray(edge_map).save(folder / "left.png")
    Image.fromarray(np.ascontiguousarray(edge_map[:, ::-1])).save(folder / "right.png")
    engine = Engine("shoes")
    engine.load()
    stats: dict = {}
    catalogue, skipped = build_folder_catalogue(engine, folder, stats=stats)
    assert skipped == [] and catalogue.ids == ["left.png", "right.png"] and stats["mirrored"] == 1
    left, right = np.asarray(catalogue.embeddings)
    from fgsbir_core.edges import photo_to_edges

    right_as_is = engine.encode_rasters(photo_to_edges(folder / "right.png")[None]).embeddings[0]
    # the edge extractor is not exactly mirror-symmetric (pixel rounding), so: much nearer than unturned
    assert np.sum((right - left) ** 2) < 0.1 * np.sum((right_as_is - left) ** 2)
    # an index made with another facing classifier is not reused
    engine.facing_id = "another"
    assert load_folder_catalogue(engine, folder) is None
    build_folder_catalogue(engine, folder, stats=stats)
    assert stats["encoded"] == 2


@needs_bundle
@pytest.mark.parametrize("damage", ["garbage", "cut short"])
def test_a_damaged_facing_file_only_turns_the_judging_off(tmp_path, monkeypatch, damage):
    from fgsbir_core import engine as engine_module

    models = tmp_path / "models"
    models.mkdir()
    bundled = engine_module.bundled_facing("shoes").read_bytes()
    (models / "shoes_facing.npz").write_bytes(b"garbage" if damage == "garbage" else bundled[:len(bundled) // 2])
    monkeypatch.setattr(engine_module, "bundled_facing", lambda category: models / f"{category}_facing.npz")
    engine = Engine("shoes")
    engine.load()  # the model still loads
    assert engine.facing is None and engine.facing_id == "" and "not a facing classifier" in engine.facing_note
    codes = engine.encode_rasters(np.full((1, 256, 256), 255, np.uint8), canonical_facing=True)
    assert codes.mirrored is None  # encoded as it is
    (models / "shoes_facing.npz").unlink()
    engine.load()
    assert engine.facing is None and "missing" in engine.facing_note


@needs_bundle
def test_a_sketch_facing_right_is_turned_by_its_own_score(data_root):
    from fgsbir_core.data import load_benchmark

    engine = Engine("shoes")
    engine.load()
    sketch = load_benchmark("shoes", data_root).test.sketches[0]
    as_drawn = engine.encode_image(sketch)
    facing_right = engine.encode_image(np.ascontiguousarray(sketch[:, ::-1]))
    assert as_drawn.facing_score > 0 and as_drawn.mirror.facing_score < 0 and facing_right.facing_score < 0
    assert np.array_equal(engine.orient(as_drawn, None).raster, as_drawn.raster)
    assert np.array_equal(engine.orient(facing_right, None).raster, facing_right.mirror.raster)

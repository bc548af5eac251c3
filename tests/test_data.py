"""Loaders against the real benchmark files, and clear errors for missing or corrupted ones."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from fgsbir_core.data import DataError, load_benchmark, resolve_data_root, train_validation_split


@pytest.mark.parametrize("category,n_train,n_test,n_attr", [("shoes", 304, 115, 21), ("chairs", 200, 97, 16)])
def test_real_splits(data_root, category, n_train, n_test, n_attr):
    bench = load_benchmark(category, data_root)
    assert len(bench.train) == n_train and len(bench.test) == n_test
    assert bench.train.sketches.shape[1:] == (256, 256) and bench.test.photos.dtype == np.uint8
    assert bench.train.photo_ids[0] == "1" and bench.test.photo_ids[0] == str(n_train + 1)
    assert len(bench.attribute_names) == n_attr and bench.test.attributes.shape == (n_test, n_attr)
    # human test triplets: 45 pairs among 10 candidates per sketch, indices inside the split
    assert all(len(t) == 45 for t in bench.test.triplets)
    assert max(int(t.max()) for t in bench.test.triplets) < n_test
    assert set(bench.attribute_definitions) == set(bench.attribute_names)


def test_shoe_attribute_rules(data_root):
    bench = load_benchmark("shoes", data_root)
    names = bench.attribute_names
    labels = np.concatenate([bench.train.attributes, bench.test.attributes])
    heel = labels[:, [names.index(n) for n in ("heel_flat", "heel_low", "heel_high")]]
    assert (heel.sum(1) == 1).all()


def test_handbags_have_no_attributes(data_root):
    bench = load_benchmark("handbags", data_root)
    assert len(bench.train) == 400 and bench.train.attributes is None


def test_validation_split_is_disjoint_and_fixed():
    fit, val = train_validation_split(304)
    assert len(set(fit) & set(val)) == 0 and len(fit) + len(val) == 304
    np.testing.assert_array_equal(val, train_validation_split(304)[1])


def test_subset_keeps_only_inner_triplets(data_root):
    bench = load_benchmark("shoes", data_root)
    sub = bench.train.subset(np.arange(50))
    assert all((t < 50).all() for t in sub.triplets if len(t))


def test_missing_root_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv("FGSBIR_DATA", raising=False)
    with pytest.raises(DataError, match="FGSBIR_DATA.*--catalogue FOLDER"):  # the installed program's way too
        resolve_data_root(None)
    with pytest.raises(DataError, match="not there"):
        resolve_data_root(tmp_path / "nowhere")
    with pytest.raises(DataError, match="Missing benchmark file.*shoes_annotation.json"):
        load_benchmark("shoes", tmp_path)


def test_corrupted_file_is_named(data_root, tmp_path):
    copy = tmp_path / "qmul"
    shutil.copytree(data_root, copy)
    target = copy / "chairs" / "chairs_sketch_db_test.mat"
    data = bytearray(target.read_bytes())
    data[5000] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match="chairs_sketch_db_test.mat does not match its SHA-256"):
        load_benchmark("chairs", copy)


def test_binary_mode_sha256sums_lines_are_checked(tmp_path):
    """`sha256sum -b` lines (`HASH *path`) in SHA256SUMS still catch a corrupted file (found by a mutation pass)."""
    import hashlib

    from fgsbir_core.data import checked_file

    (tmp_path / "shoes").mkdir()
    good, bad = b"published bytes", b"published bytez"
    (tmp_path / "shoes" / "good.mat").write_bytes(good)
    (tmp_path / "shoes" / "x.mat").write_bytes(bad)
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(good).hexdigest()} *shoes/good.mat\n"
                                         f"{hashlib.sha256(good).hexdigest()} *shoes/x.mat\n")
    assert checked_file(tmp_path, "shoes/good.mat") == tmp_path / "shoes" / "good.mat"
    with pytest.raises(DataError, match="x.mat does not match its SHA-256"):
        checked_file(tmp_path, "shoes/x.mat")


def test_a_checked_file_replaced_in_the_same_run_is_checked_again(tmp_path):
    """A file corrupted after a good check in the same run is caught when checked again (found by a mutation pass)."""
    import hashlib
    import os

    from fgsbir_core.data import checked_file

    (tmp_path / "shoes").mkdir()
    target = tmp_path / "shoes" / "x.mat"
    target.write_bytes(b"published bytes")
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(b'published bytes').hexdigest()}  shoes/x.mat\n")
    assert checked_file(tmp_path, "shoes/x.mat") == target
    target.write_bytes(b"published bytes, then damaged")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    with pytest.raises(DataError, match="x.mat does not match its SHA-256"):
        checked_file(tmp_path, "shoes/x.mat")


def test_cross_validation_folds_are_fixed_and_cover_every_pair_once():
    """The folds never change (4-fold models from before the split was recorded are reused on it), and cover each pair once (found by a mutation pass)."""
    from fgsbir_core.data import cross_validation_folds

    assert [v[:6].tolist() for _, v in cross_validation_folds(200, 4)] == [
        [3, 6, 7, 13, 14, 15], [9, 17, 18, 19, 23, 31], [0, 1, 2, 11, 16, 24], [4, 5, 8, 10, 12, 22]]
    for n, folds in ((200, 3), (304, 4), (7, 2)):
        parts = cross_validation_folds(n, folds)
        assert sorted(np.concatenate([v for _, v in parts]).tolist()) == list(range(n))
        assert all(sorted(f.tolist() + v.tolist()) == list(range(n)) for f, v in parts)
        assert max(len(v) for _, v in parts) - min(len(v) for _, v in parts) <= 1

"""The measuring scripts behind the query-path settings (framing margin, line weight, hubness)."""
from __future__ import annotations

import numpy as np
import pytest

from fgsbir_core.raster import RasterSpec, ink_weight, normalise_image, rasterise_strokes


def test_long_side_margin_of_a_known_box(load_script):
    framing = load_script("query_framing")
    image = np.full((256, 256), 255, np.uint8)
    image[0, :] = image[-1, :] = image[:, 0] = image[:, -1] = 128  # an edge map's grey frame: skipped
    image[40:200, 20:236] = 0  # 216 px wide, so (256 - 216) / 2 = 20 px
    assert framing.long_side_margins(image[None], RasterSpec().ink_threshold)[0] == pytest.approx(20.0, abs=0.5)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_ink_weight_of_a_straight_line_is_its_width(load_script, width):
    line_weight = load_script("line_weight")
    image = np.full((64, 64), 255, np.uint8)
    image[30: 30 + width, 8:56] = 0
    assert np.median(line_weight.ink_weights(image)) == pytest.approx(width)


def test_heavier_spreads_ink_and_keeps_the_drawing(load_script):
    line_weight = load_script("line_weight")
    drawing = rasterise_strokes([[(0, 0), (100, 30), (180, 0)]], RasterSpec(line_width=1.0))
    spread = line_weight.heavier(drawing, 3)
    coverage = lambda image: (255 - image.astype(np.float32)) / 255
    assert ink_weight(coverage(spread)) > 1.5 * ink_weight(coverage(drawing))
    assert ((spread < 255) | (drawing == 255)).all()  # ink only grows
    assert line_weight.heavier(drawing, 0) is drawing


def test_default_line_width_matches_the_training_sketches_weight(load_script):
    """The rasteriser's lines on the script's smooth curves carry about the 0.99 px of ink the
    training sketches do (the figure scripts/line_weight.py prints from the data)."""
    line_weight = load_script("line_weight")
    drawn = line_weight.median_weight([rasterise_strokes(d, RasterSpec()) for d in line_weight.smooth_drawings(n=5)])
    assert 0.8 <= drawn <= 1.3, drawn
    framed = normalise_image(rasterise_strokes(line_weight.smooth_drawings(n=1)[0], RasterSpec()))
    assert ink_weight((255 - framed.astype(np.float32)) / 255) <= RasterSpec().ink_weight  # not lightened further


def test_hubness_correction_demotes_the_photo_every_training_sketch_finds_near(load_script):
    hubness = load_script("hubness_check")
    # photo 0 is near every training sketch (a hub), photo 1 near none
    seen = np.array([[0.1, 2.0], [0.2, 2.2], [0.3, 1.8]])
    assert hubness.hub_term(seen, 2) == pytest.approx([0.5 * 0.15, 0.5 * 1.9])
    query = np.array([[1.0, 1.2]])  # the hub is nearer before the correction, not after
    assert np.argmin(query[0]) == 0 and np.argmin(hubness.corrected(query, seen, 2)[0]) == 1
    assert hubness.hub_term(seen, 10) == pytest.approx(0.5 * seen.mean(0))  # k beyond the sketches: all of them


def test_thinning_keeps_one_pixel_wide_connected_lines(load_script):
    from fgsbir_core.imageops import label

    partial = load_script("partial_sketch")
    mask = np.zeros((40, 60), bool)
    mask[18:21, 5:55] = True  # a 3-px horizontal bar
    mask[5:35, 28:31] = True  # crossed by a 3-px vertical one
    thin = partial.thin(mask)
    assert label(thin)[1] == 1 and (thin <= mask).all()
    assert thin[:, 10].sum() == 1 and thin[10, :].sum() == 1  # one pixel across each arm


def test_a_sketch_in_progress_is_its_outline_first(load_script):
    partial = load_script("partial_sketch")
    image = np.full((120, 120), 255, np.uint8)
    image[20, 20:100] = image[99, 20:100] = 0  # a closed box: the outline
    image[20:100, 20] = image[20:100, 99] = 0
    image[60, 35:85] = 0  # a long inner line
    image[40:50, 50] = 0  # a short one
    versions = partial.partial_sketches(image, RasterSpec().ink_threshold)
    assert list(versions) == ["outline", "+ 1 inner", "+ 3 inner", "+ 10 inner", "whole sketch"]
    outline, share = versions["outline"]
    assert (outline[20, 20:100] == 0).all() and (outline[60, 35:85] == 255).all() and (outline[40:50, 50] == 255).all()
    assert 0.8 < share < 0.9  # 320 of the 380 px of line
    one = versions["+ 1 inner"][0]
    assert (one[60, 35:85] == 0).all() and (one[40:50, 50] == 255).all()  # the longest inner line comes next
    assert (versions["+ 3 inner"][0] == image).all() and (versions["whole sketch"][0] == image).all()
    assert versions["whole sketch"][1] == 1.0
    gapped = image.copy()
    gapped[20, 50:54] = 255  # a small gap in the outline: still the outline, the inside does not leak
    assert (partial.partial_sketches(gapped, RasterSpec().ink_threshold)["outline"][0][60, 35:85] == 255).all()


@pytest.mark.parametrize("script, args", [
    ("bench_latency", ["--sizes", "200", "--repeats", "3"]),
    ("bench_long_session", ["--strokes", "60", "--queries", "20", "--window", "5"]),
    ("bench_index", ["-n", "20", "--entries", "200", "--repeats", "2"]),
])
def test_app_benchmarks_still_run(script, args, tmp_path):
    """The README's latency and long-session figures come from these; they drive the real window."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SKETCHFIND_CONFIG_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, str(root / "scripts" / f"{script}.py"), *args], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "p50" in done.stdout or "median" in done.stdout


def test_orientation_check_on_the_test_split(load_script, data_root, capsys):
    """`scripts/orientation_check.py --split test`, behind the README's facing figures: the bundled
    chairs model keeps most test sketches as drawn, and its two acc@1 figures are printed."""
    import re

    orientation = load_script("orientation_check")
    assert orientation.main(["--category", "chairs", "--split", "test", "--data-root", str(data_root)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    found = re.fullmatch(r"chairs: 97 test sketches; 3 nearest: kept as drawn (\d+) %, mirrored turned back (\d+) % "
                         r"\(mean [\d.]+\); acc@1 ([\d.]+) % \(auto\), ([\d.]+) % \(as drawn\), "
                         r"([\d.]+) % \(every sketch mirrored and matched as it is\)", line)
    assert found, line
    kept, turned, auto, as_drawn, mirrored = map(float, found.groups())
    assert kept >= 80 and turned >= 80 and 50 <= auto <= 100 and 50 <= as_drawn <= 100
    assert mirrored < as_drawn - 30  # a sketch facing the other way is matched almost at random


def test_a_mixed_facing_catalogue_is_searched_better_with_the_facing_judged(load_script, data_root, capsys):
    """`scripts/mixed_facing_catalogue.py`, behind the README's figures for folders of photos facing
    either way: with the bundled facing classifier, the left-facing test sketches stay as drawn
    and find their photos far more often than without it."""
    import json

    mixed = load_script("mixed_facing_catalogue")
    assert mixed.main(["--category", "shoes", "--data-root", str(data_root)]) == 0
    judged, as_they_are = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()[-2:]]
    assert judged["catalogue"] == "facing judged" and as_they_are["catalogue"] == "as they are"
    assert 50 <= judged["photos_mirrored"] <= 65 and as_they_are["photos_mirrored"] == 0  # 57 of the 115 were mirrored
    assert judged["sketches_kept_as_drawn"] >= 110 and judged["acc_at_1"] >= as_they_are["acc_at_1"] + 10

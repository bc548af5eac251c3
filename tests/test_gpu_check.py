"""scripts/gpu_check.py, the device check, run on the CPU: a device compared with itself agrees."""
from __future__ import annotations

import json


def test_cpu_against_itself_agrees_and_reports_every_model(load_script, data_root, tmp_path):
    script = load_script("gpu_check")
    out = tmp_path / "rows.json"
    assert script.main(["--device", "cpu", "--limit", "6", "--repeats", "2", "--data-root", str(data_root), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["category"], r["mode"]) for r in rows] == script.MODELS
    for row in rows:
        assert row["max_embedding_diff"] == 0.0 and row["different_first_photo"] == 0
        assert row["cpu_metrics"] == row["device_metrics"]
        assert row["cpu_sketch_ms"] > 0 and row["device_index_photos_per_s"] > 0


def test_a_missing_device_is_reported_not_faked(load_script, data_root, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_script("gpu_check").main(["--device", "cuda", "--limit", "2", "--data-root", str(data_root)]) == 2

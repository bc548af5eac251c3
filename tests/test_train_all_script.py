"""scripts/train_all.sh, the command behind Table 1 and the bundled models, run against a stand-in
`fgsbir` that records its calls: the staged recipe's order and arguments, without the hours."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

FAKE_FGSBIR = r'''
import os, pathlib, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
def opt(name):
    return args[args.index(name) + 1]
if args[0] == "train":
    pathlib.Path(opt("--out")).write_text("weights")
elif args[0] == "cv":
    pathlib.Path(opt("--out-dir"), f"{opt('--category')}_{opt('--mode')}_cv.json").write_text("{}")
elif args[0] == "table1":
    print("Table 1 (stand-in)")
'''


def test_train_all_runs_both_stages_for_every_seed(tmp_path):
    fake = tmp_path / "fgsbir"
    fake.write_text(f"#!{sys.executable}\n{FAKE_FGSBIR}")
    fake.chmod(0o755)
    out, models, log = tmp_path / "t1", tmp_path / "models", tmp_path / "calls.log"
    env = {**os.environ, "FGSBIR": str(fake), "FAKE_LOG": str(log), "TABLE1_OUT": str(out), "MODELS": str(models),
           # a cross-validation on record for three models; chairs triplet is cross-validated here
           "CV_CHOICES": "shoes_mtl=500:0.5:0.345 shoes_triplet=600 chairs_mtl=400:2"}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "train_all.sh"), "2", "2"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    cv = out / "cv"
    for category, mode, others in (("shoes", "mtl", "handbags,chairs"), ("chairs", "triplet", "handbags,shoes")):
        for seed in (0, 1):
            first = f"train --category {category} --mode {mode} --threads 1 --set extra_categories={others} --set steps=1200 " \
                    f"--set select=final --seed {seed} --refit-at 1200 --out {cv}/stage1/{category}_{mode}_seed{seed}.pt"
            assert first in calls
            second = [c for c in calls if c.endswith(f"--out {cv}/{category}_{mode}_seed{seed}.pt")]
            assert len(second) == 1 and f"--set init_from={cv}/stage1/{category}_{mode}_seed{seed}.pt" in second[0]
            assert calls.index(first) < calls.index(second[0])  # the first stage before the second
    shoes = next(c for c in calls if c.endswith(f"--out {cv}/shoes_mtl_seed0.pt"))
    assert "--refit-at 500 --fusion-weight 0.5" in shoes
    assert "--fusion-weight" not in next(c for c in calls if c.endswith(f"--out {cv}/shoes_triplet_seed0.pt"))
    # the model without a recorded choice: both stages cross-validated, folds from their own first stages
    assert [c for c in calls if c.startswith("cv ")] == [
        f"cv --category chairs --mode triplet --threads 1 --set extra_categories=handbags,shoes --set steps=1200 "
        f"--set select=final --out-dir {cv}/stage1",
        f"cv --category chairs --mode triplet --threads 1 --set init_from={cv}/stage1/chairs_triplet_fold{{fold}}.pt "
        f"--out-dir {cv}"]
    assert f"--refit-from {cv}/chairs_triplet_cv.json --seed 1" in next(c for c in calls if c.endswith(f"{cv}/chairs_triplet_seed1.pt"))
    assert calls.index(f"table1 --retrain --cv --seeds 2 --out-dir {out}") > max(
        i for i, c in enumerate(calls) if c.startswith("train "))
    cards = [c for c in calls if c.startswith("card ")]
    assert len(cards) == 4 and sorted(p.name for p in models.iterdir()) == [
        "chairs_mtl.pt", "chairs_triplet.pt", "shoes_mtl.pt", "shoes_triplet.pt"]
    assert "--validation-acc1 0.345" in next(c for c in cards if "shoes_mtl.pt" in c.split()[1])
    assert not [c for c in cards if "--validation-acc1" in c and "shoes_mtl.pt" not in c.split()[1]]
    # the card's command runs as written (found by a QA pass: its paths named a `cv/` folder that
    # exists nowhere, so the second stage could not find the first)
    command = next(c for c in cards if "chairs_mtl.pt" in c.split()[1]).split(" --command-line ", 1)[1]
    assert command.startswith("fgsbir train --category chairs --mode mtl") and "# scripts/train_all.sh" in command
    rerun = tmp_path / "rerun"
    (rerun / "bin").mkdir(parents=True)
    (rerun / "bin" / "fgsbir").symlink_to(fake)
    for folder in (cv / "stage1", models):  # where the command writes: emptied, so what it makes is seen
        for made in folder.glob("chairs_mtl_seed0.pt"):
            made.unlink()
    (models / "chairs_mtl.pt").unlink()
    ran = subprocess.run(["bash", "-c", command], cwd=rerun, env={**env, "PATH": f"{rerun / 'bin'}:{os.environ['PATH']}"},
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert (cv / "stage1" / "chairs_mtl_seed0.pt").is_file() and (models / "chairs_mtl.pt").is_file()
    ran = log.read_text().splitlines()[-2:]
    assert f"--set init_from={cv}/stage1/chairs_mtl_seed0.pt" in ran[1] and ran[0].endswith(f"--out {cv}/stage1/chairs_mtl_seed0.pt")
    calls = log.read_text().splitlines()
    (models / "chairs_mtl.pt").write_text("weights")
    again = subprocess.run(["bash", str(ROOT / "scripts" / "train_all.sh"), "2", "2"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0
    assert not [c for c in log.read_text().splitlines()[len(calls):] if c.startswith(("train ", "cv "))]  # nothing retrained

"""`fgsbir`: train, evaluate, reproduce Table 1, query with sketch images, fetch data, index folders."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from . import version
from .checkpoint import ModelError
from .data import DataError, RETRIEVAL_CATEGORIES
from .engine import FACINGS
from .raster import SketchError


def rank_sketch_files(engine, catalogue, paths, top: int, attribute_weight: float | None = None,
                      facing: str = "auto") -> list[dict]:
    """The `query --json` answer: for each sketch file, the top photos with score and attributes.
    A sketch that cannot be read gets {"sketch": path, "error": message, "results": []}; the
    others are still ranked. A folder catalogue's results carry "file" too (`_result_json`)."""
    check_attribute_weight(engine, attribute_weight)
    if engine.facing_note and facing == "auto":
        from .catalogue_cli import note

        note(f"{engine.facing_note}: sketches are turned to face like their nearest photos instead")
    output = []
    for path in paths:
        try:
            code = engine.orient(engine.encode_file(path), catalogue, facing)
        except SketchError as exc:
            message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            output.append({"sketch": str(path), "error": message, "results": []})
            continue
        results = engine.rank(code, catalogue, attribute_weight=attribute_weight, top_k=top)
        output.append({"sketch": str(path), "results": [_result_json(r, catalogue) for r in results]})
    return output


def _result_json(result, catalogue) -> dict:
    """One ranked photo; a folder catalogue's photo also names its file (absolute), so that a
    script can open it without knowing the folder."""
    entry = {"id": result.id, "score": round(result.score, 6),
             "attributes": {k: round(v, 4) for k, v in result.attributes.items()},
             "present": list(result.present)}  # read from the unrounded figures, as the app reads them
    photo_file = catalogue.photo_file(result.index)
    if photo_file is not None:
        entry["file"] = str(photo_file)
    return entry


def check_attribute_weight(engine, attribute_weight: float | None) -> None:
    """A fusion weight asked of a model without attributes is refused, before any photo is read."""
    if attribute_weight and not engine.attribute_names:
        raise ValueError(f"{engine.weights} is a triplet model: it predicts no attributes, so --attribute-weight does not apply.")


def query_json(paths, category: str, top: int = 10, gallery: str = "test", data_root=None, weights=None,
               attribute_weight: float | None = None, facing: str = "auto") -> list[dict]:
    """Rank the benchmark photos for each sketch file (stroke JSON or image)."""
    from .data import is_photo_folder
    from .engine import Engine

    if data_root is not None and is_photo_folder(data_root):  # the engine would index it as a photo folder
        raise DataError(f"--data-root {data_root} is not a benchmark data root (it has none of the benchmark's "
                        "shoes/ or chairs/ files, and no SHA256SUMS that lists them); a folder of your own photos "
                        "goes with --catalogue")
    engine = Engine(category, weights)
    engine.load()
    check_attribute_weight(engine, attribute_weight)
    catalogue = engine.load_catalogue(data_root, gallery=gallery)
    return rank_sketch_files(engine, catalogue, paths, top, attribute_weight, facing)


def category_for(category: str | None, weights) -> str:
    """The category asked for; without one, that of the given checkpoint, else shoes."""
    if category is not None:
        return category
    if weights:
        from .checkpoint import load_checkpoint

        return str(load_checkpoint(weights)["category"])
    return "shoes"


def answer_queries(sketches, category: str | None, top: int = 10, gallery: str | None = None, data_root=None,
                   catalogue=None, weights=None, attribute_weight: float | None = None,
                   facing: str = "auto") -> list[dict]:
    """`fgsbir query` and `sketchfind --query`: rank the benchmark photos (`gallery`, default
    the test split) or a folder of the user's own photos (`catalogue`) for each sketch file.
    No category: the checkpoint's own (`category_for`)."""
    category = category_for(category, weights)
    if catalogue and (gallery or data_root):
        raise ValueError("--catalogue searches a folder of your own photos; --gallery and --data-root choose "
                         "benchmark photos instead: give one or the other")
    facing = facing.replace("-", " ")
    if catalogue:
        from .catalogue_cli import ProgressBar, indexing_progress, query_catalogue_json

        bar = ProgressBar()  # indexing a new folder takes a while: shown on a terminal, not in a script's log
        return query_catalogue_json(sketches, catalogue, category, top, weights, attribute_weight=attribute_weight,
                                    facing=facing, progress=indexing_progress(bar) if bar.tty else None)
    return query_json(sketches, category, top, gallery or "test", data_root, weights, attribute_weight, facing)


def add_query_options(p: argparse.ArgumentParser) -> None:
    """The query options shared by `fgsbir query` and `sketchfind --query`."""
    p.add_argument("--gallery", choices=("test", "all"), help="benchmark photos to search: the published test split (default) or all")
    p.add_argument("--catalogue", metavar="FOLDER", help="search a folder of your own photos instead of the benchmark (indexed on first use)")
    p.add_argument("--top", type=positive_int, default=10, help="results per sketch (default 10)")
    p.add_argument("--weights", help="model weights file (default: the bundled model)")
    p.add_argument("--attribute-weight", type=attribute_weight, help="fusion weight w (default: the model's, chosen on validation)")
    p.add_argument("--facing", choices=[f.replace(" ", "-") for f in FACINGS], default="auto",
                   help="match each sketch as drawn, mirrored, or (auto) as the model's facing classifier judges it")
    p.add_argument("--json", action="store_true", help="print JSON")


def report_failed(output: list[dict], program: str) -> int:
    """One stderr line per sketch that could not be read; the exit status (2 if any)."""
    failed = [item["error"] for item in output if "error" in item]
    for message in failed:
        print(f"{program}: error: {message}", file=sys.stderr)
    return 2 if failed else 0


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def attribute_weight(text: str) -> float:
    """argparse type: a fusion weight, a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, not {text}")
    return value


def _recipe(args):
    """TrainConfig from the options, with the `--set KEY=VALUE` overrides (`TrainConfig.with_overrides`)."""
    from .train import TrainConfig

    return TrainConfig(category=args.category, mode=args.mode, seed=0 if args.seed is None else args.seed,
                       threads=args.threads).with_overrides(args.set or [])


def _cmd_train(args) -> int:
    from .train import train

    if args.refit_from and args.refit_at is not None:
        raise ValueError("give --refit-from or --refit-at, not both")
    if args.refit_from and (args.category or args.mode or args.steps is not None):
        raise ValueError("with --refit-from the run's own recipe is used: drop --category, --mode and --steps")
    if args.steps is not None and any(item.startswith("steps=") for item in args.set or []):
        raise ValueError("give --steps or --set steps=…, not both")
    args.category, args.mode = args.category or "shoes", args.mode or "mtl"
    config = _recipe(args)
    if args.steps is not None:
        config.steps = args.steps
    refit_from = None
    if args.fusion_weight and args.refit_at is None:
        raise ValueError("--fusion-weight goes with --refit-at (a run's own weight is chosen on validation)")
    if args.refit_from:
        from .crossval import refit_plan

        if Path(args.refit_from).resolve() == Path(args.out).resolve():
            raise ValueError(f"--out {args.out} is the run being refitted: give another file")

        # a staged recipe's refit starts from its own first stage: init_from is the one field that may change
        starts = [item.partition("=")[2] for item in args.set or [] if item.startswith("init_from=")]
        if len(starts) != len(args.set or []):
            raise ValueError("with --refit-from, --set may only give init_from (the rest is the run's recipe)")
        config, refit_from = refit_plan(args.refit_from, args.threads, args.seed, init_from=starts[-1] if starts else None)
    elif args.refit_at is not None:
        # a step (and weight) chosen elsewhere, e.g. a cross-validation on record: train on all pairs, stop there
        if not 0 < args.refit_at <= config.steps:
            raise ValueError(f"--refit-at must be a step from 1 to the recipe's {config.steps}")
        if args.fusion_weight and config.mode != "mtl":
            raise ValueError("--fusion-weight: only the multi-task model fuses attribute distances")
        refit_from = {"train_config": config.to_dict(), "chosen_step": args.refit_at,
                      "validation": {"fusion_weight": args.fusion_weight},
                      "chosen_by": f"given on the command line (--refit-at {args.refit_at}, --fusion-weight {args.fusion_weight:g})"}
    card = train(config, args.out, args.data_root, resume=not args.no_resume, refit_from=refit_from)
    print(json.dumps(card, indent=2))
    return 0


def _cmd_cv(args) -> int:
    from .crossval import cross_validate

    config = _recipe(args)
    result = cross_validate(config, args.out_dir, args.data_root, folds=args.folds)
    print(json.dumps({k: result[k] for k in ("chosen_step", "validation", "training_seconds")}))
    return 0


def _cmd_eval(args) -> int:
    from .checkpoint import load_checkpoint
    from .engine import bundled_weights
    from .evaluate import evaluate_checkpoint

    args.category = category_for(args.category, args.weights)
    weights = args.weights or bundled_weights(args.category, args.mode or "mtl")
    metrics, _ = evaluate_checkpoint(weights, args.category, args.data_root, args.attribute_weight)
    state = load_checkpoint(weights)
    mode = state.get("mode") or (state.get("card") or {}).get("mode") or args.mode or "mtl"  # the model's own
    if args.mode is not None and mode != args.mode:
        print(f"fgsbir: note: {weights} is a {mode} model (--mode {args.mode} only picks a bundled model)", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{args.category} {mode} ({weights}): " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in metrics.items()))
    return 0


def _cmd_query(args) -> int:
    output = answer_queries(args.sketches, args.category, args.top, args.gallery, args.data_root, args.catalogue,
                            args.weights, args.attribute_weight, args.facing)
    print_answers(output, args.json)
    return report_failed(output, "fgsbir")


def print_answers(output: list[dict], as_json: bool) -> None:
    """The query answer on stdout: JSON, or a list a person reads."""
    if as_json:
        emit(json.dumps(output, indent=1) + "\n")
        return
    lines = []
    for item in output:
        if "error" in item:
            continue
        lines.append(_printable(item["sketch"]))
        for rank, r in enumerate(item["results"], 1):
            lines.append(f"  {rank:3d}. photo {_printable(r['id']):>5}  distance {r['score']:.4f}  "
                         f"{', '.join(r.get('present', ()))}".rstrip())
    emit("".join(line + "\n" for line in lines))


def _printable(name: str) -> str:
    """A file name on one line of a person's list: a newline or other control character in it is
    escaped (\\n), and a byte that is not UTF-8 (os.fsdecode's surrogate) shown as \\xff."""
    out = []
    for c in name:
        if c.isprintable():
            out.append(c)
        elif 0xDC80 <= ord(c) <= 0xDCFF:
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that help, version or usage text that cannot be written is not lost in
    silence: argparse drops the write error and exits 0, even onto a full disk."""

    def _print_message(self, message, file=None):
        file = file or sys.stderr
        if not message or file is None:  # no console at all (a windowed build): nowhere to say it
            return
        try:
            file.write(message)
            file.flush()
        except OSError as exc:
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), file.fileno())  # nothing left to flush at exit
            except (OSError, ValueError):  # a stream with no file descriptor
                pass
            if isinstance(exc, BrokenPipeError):
                raise SystemExit(141) from None
            if file is not sys.stderr:
                print(f"{self.prog}: error: cannot write to standard output: {exc.strerror or exc}", file=sys.stderr)
            raise SystemExit(2) from None


def emit(text: str) -> None:
    """Print an answer. A reader that went away (`| head`) ends the program quietly with 141,
    as SIGPIPE would; a full disk is an OSError with one line, not a traceback at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        if isinstance(exc, BrokenPipeError):
            raise SystemExit(141) from None
        raise OSError(f"cannot write the answer: {exc.strerror or exc}") from None


def _cmd_card(args) -> int:
    """Evaluate a trained checkpoint on the test split and write its model card beside it."""

    import torch

    from .checkpoint import half_precision, load_checkpoint, save_checkpoint
    from .files import atomic_write_bytes
    from .evaluate import evaluate_checkpoint

    if args.validation_acc1 is not None and not 0.0 <= args.validation_acc1 <= 1.0:  # before anything is written
        raise ValueError("--validation-acc1 is a fraction (0.815 for 81.5 %)")
    state = load_checkpoint(args.weights)
    if any(v.dtype == torch.float32 for v in state["model_state"].values()):  # the small file that ships
        state["model_state"] = half_precision(state["model_state"])
        save_checkpoint(args.weights, {k: v for k, v in state.items() if k != "format_version"})
    metrics, _ = evaluate_checkpoint(args.weights, state["category"], args.data_root)
    path = Path(args.weights).with_suffix(".json")
    try:  # what an earlier card recorded that the checkpoint does not hold (the command, a CV figure) stays
        earlier = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        earlier = {}
    earlier = earlier if isinstance(earlier, dict) else {}
    card = dict(state.get("card", {}))
    card["test"] = metrics
    card["command"] = args.command_line or card.get("command") or earlier.get("command", "")
    validation = {**(earlier.get("validation") or {}), **card.get("validation", {})}
    if args.validation_acc1 is not None:
        validation["acc_at_1"] = args.validation_acc1
    card["validation"] = validation
    card["fusion_weight"] = state.get("fusion_weight")
    card["attributes"] = state["attribute_names"]
    card["raster_spec"] = state["raster_spec"]  # how a drawing is framed for this model
    atomic_write_bytes(path, (json.dumps(card, indent=2) + "\n").encode())
    print(json.dumps({"card": str(path), "test": metrics}))
    return 0


def _cmd_table1(args) -> int:
    from .table1 import run_table1

    if not args.retrain and (args.seeds != 3 or args.steps is not None or args.refit or args.cv):
        raise ValueError("--seeds, --steps, --refit and --cv go with --retrain (without it the bundled models are evaluated)")
    if args.seeds < 1 or (args.steps is not None and args.steps < 1):
        raise ValueError("--seeds and --steps must be at least 1")
    run_table1(args.data_root, retrain=args.retrain, seeds=args.seeds, out_dir=Path(args.out_dir), steps=args.steps,
               refit=args.refit, cv=args.cv)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="fgsbir", description="SketchFind core: fine-grained sketch-based image retrieval.")
    parser.add_argument("--version", action="version", version=f"fgsbir {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def recipe(p):
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="change one field of the training recipe "
                       "(fgsbir_core.train.TrainConfig; model.KEY for the network's ModelConfig), e.g. "
                       "--set hard_ties=appearance or --set model.members=3; repeatable")

    def common(p, mode=True, from_weights=False):
        # from_weights: without --category, a --weights file's own category (else shoes)
        p.add_argument("--category", choices=RETRIEVAL_CATEGORIES, default=None if from_weights else "shoes",
                       help="shoes (default" + ("; with --weights, that model's category" if from_weights else "") + ") or chairs")
        p.add_argument("--data-root", help="QMUL V1 data folder (default: $FGSBIR_DATA)")
        if mode:
            p.add_argument("--mode", choices=("mtl", "triplet"), default="mtl",
                           help="mtl (the multi-task model, default) or triplet (the baseline)")

    p = sub.add_parser("train", help="train one model")
    common(p)
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0; with --refit-from a "
                   "cross-validation's JSON, the seed it ran with)")
    p.add_argument("--steps", type=int, help="training steps (default 600, TrainConfig's; the shipped models are "
                   "trained in two stages by scripts/train_all.sh)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("--no-resume", action="store_true", help="ignore a partial checkpoint from an interrupted run")
    recipe(p)
    p.add_argument("--refit-from", metavar="RUN.pt", help="train again on all training pairs (validation carve included) "
                   "with RUN's configuration, stopping at RUN's chosen step and keeping its fusion weight; RUN may "
                   "also be the JSON of `fgsbir cv` (its --seed then sets the seed; --set init_from=FIRST_STAGE.pt "
                   "gives a staged recipe's first stage)")
    p.add_argument("--refit-at", type=int, metavar="STEP", help="train on all training pairs (no validation carve) "
                   "and keep the weights at STEP, a step chosen beforehand")
    p.add_argument("--fusion-weight", type=attribute_weight, default=0.0, metavar="W",
                   help="with --refit-at: the model's attribute fusion weight w (default 0)")
    p.set_defaults(func=_cmd_train, category=None, mode=None)  # shoes, mtl, unless --refit-from gives the run's

    p = sub.add_parser("cv", help="choose the step and fusion weight by k-fold cross-validation on the training pairs")
    common(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--folds", type=int, default=4, help="folds of the training pairs (default 4)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--out-dir", required=True, help="fold models and <category>_<mode>_cv.json (for train --refit-from)")
    recipe(p)
    p.set_defaults(func=_cmd_cv)

    p = sub.add_parser("eval", help="test-split acc@1, acc@10 and triplet accuracy of a model")
    common(p, from_weights=True)
    p.add_argument("--weights", help="checkpoint (default: the bundled model of that category and mode)")
    p.add_argument("--attribute-weight", type=attribute_weight, help="fusion weight w (default: the one chosen on validation)")
    p.add_argument("--json", action="store_true", help="print JSON (fractions)")
    p.set_defaults(func=_cmd_eval, mode=None)  # mtl unless said: a --weights file is the mode it was trained in

    p = sub.add_parser("card", help="evaluate a trained checkpoint on the test split and write its model card (JSON)")
    p.add_argument("weights", help="a checkpoint written by fgsbir train (its card goes beside it, .json)")
    p.add_argument("--data-root", help="QMUL V1 data folder (default: $FGSBIR_DATA)")
    p.add_argument("--command-line", help="the exact command that trained it, for the card")
    p.add_argument("--validation-acc1", type=float, metavar="F", help="for a model trained with --refit-at: the "
                   "validation acc@1 (fraction) of the cross-validation that chose its step, for the card")
    p.set_defaults(func=_cmd_card)

    p = sub.add_parser("table1", help="the paper's Table 1: hand-made baseline, triplet and MTL on shoes and chairs")
    p.add_argument("--data-root", help="QMUL V1 data folder (default: $FGSBIR_DATA)")
    p.add_argument("--retrain", action="store_true", help="train every model again instead of using the bundled ones")
    p.add_argument("--seeds", type=int, default=3, help="seeds per model with --retrain (default 3)")
    p.add_argument("--steps", type=int, help="training steps with --retrain (default 600; the shipped, staged recipe is --cv's)")
    p.add_argument("--out-dir", default="table1_out", help="where the plot, the JSON and retrained models go (default table1_out)")
    p.add_argument("--refit", action="store_true", help="with --retrain: evaluate each run refitted on all training "
                   "pairs (OUT_DIR/refit/, trained from the runs when missing)")
    p.add_argument("--cv", action="store_true", help="with --retrain: the shipped, staged recipe's models, every seed "
                   "trained on all training pairs (OUT_DIR/cv/, trained by scripts/train_all.sh, which ends with this table)")
    p.set_defaults(func=_cmd_table1)

    p = sub.add_parser("query", help="rank photos for sketches: stroke files (.json) or images (dark lines on light paper, up to 40 megapixels)")
    common(p, mode=False, from_weights=True)
    p.add_argument("sketches", nargs="+", metavar="SKETCH", help="stroke files saved by the app, or pictures of sketches")
    add_query_options(p)
    p.set_defaults(func=_cmd_query)

    from .catalogue_cli import add_commands

    add_commands(sub)
    return parser


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a logout, `timeout`, a batch scheduler) stops a command as Ctrl+C does: training
    keeps its last checkpoint, indexing saves the photos it finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except BrokenPipeError:  # the reader left (`| head`): quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (DataError, ModelError, SketchError, ValueError, InterruptedError, RuntimeError, OSError) as exc:
        print(f"fgsbir: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resumable = args.command in ("train", "cv")
        print("\nfgsbir: interrupted" + (" (run the same command again: it goes on from the last validation's "
                                        "checkpoint, if one was written)" if resumable else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

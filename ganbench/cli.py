"""The ``ganbench`` command line: one subcommand per pipeline stage. Snakemake rules call these; so can users.

    ganbench check      --config C                      validate a config, list its runs
    ganbench prepare    --config C --dataset D --out F  download/generate one dataset into one .npz
    ganbench train-classifier --config C --data F --out W --info J
    ganbench real-features    --config C --data F [--classifier W] --out R [--floor J]
    ganbench train      --config C --dataset D --variant V --seed S [--sample K | --selected J] --data F --out-dir DIR
    ganbench evaluate   --config C --run-dir DIR... --data F [--real-features R] [--classifier W] --out M...
    ganbench select     --config C --dataset D --variant V --metrics M... --out J
    ganbench download-weights --config C --extractor NAME [--out-dir DIR]
    ganbench aggregate  --out CSV METRICS.json...
    ganbench report     --config C --metrics CSV --out-dir DIR

A searched variant (``search:``, ``ganbench.search``): ``train --sample K`` trains its sampled setting K (a phase-1
run, evaluated with ``evaluate --sample K --split val``), ``select`` picks the best setting from those runs'
validation metrics, and ``train --selected selected.json`` trains a phase-2 run with it.

The job commands (prepare, train-classifier, real-features, train, evaluate, select, download-weights) take
either ``--config FILE`` (and the names of what to run) or ``--spec JSON``: the slice of the config that job depends
on (``ganbench.specs``), which is what the Snakefile passes, so that a job reruns exactly when what it reads
changes.

Options of every command: ``-v`` (info: downloads, ...; ``-vv`` debug), ``-q`` (errors only, no progress lines),
``--version``. Exit status: 0 done, 1 a runtime error (one ``ganbench CMD: error: ...`` line on stderr: bad config,
missing input file, failed download, ...), 2 a usage error (argparse: unknown option, missing argument), 128 + N
a training job stopped by signal N (143: SIGTERM) after writing a checkpoint of its current step.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from ganbench import __version__
from ganbench.errors import GanbenchError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _config(args):
    from ganbench.config import Config

    return Config.load(args.config)


def _spec(args, what: str, from_config):
    """The job's spec: parsed from ``--spec``, or computed by ``from_config(config)`` from ``--config``."""
    from ganbench import specs

    if args.spec is not None and args.config is not None:
        raise GanbenchError(f"{args.command}: give --config or --spec, not both")
    if args.spec is not None:
        return specs.parse(args.spec, what)
    if args.config is None:
        raise GanbenchError(f"{args.command}: give --config FILE (a benchmark config) or --spec JSON (the {what} "
                            "spec the Snakefile passes)")
    return from_config(_config(args))


def _need(args, *names: str) -> None:
    missing = [n for n in names if getattr(args, n) is None]
    if missing:
        raise GanbenchError(f"{args.command}: --config needs --{missing[0].replace('_', '-')}")


def cmd_check(args) -> None:
    config = _config(args)
    runs = list(config.runs())
    search_runs = list(config.search_runs())
    searched = (f"; a search first: {len(search_runs)} phase-1 runs over {len(config.searched())} (dataset, variant)"
                if search_runs else "")
    print(f"{args.config}: valid; {len(runs)} runs ({len(config.variant_names)} variants, "
          f"{len(config.datasets)} datasets, {len(config.seeds)} seeds){searched}")
    if args.list:
        for run in runs:
            print(run.path)
        for search_run in search_runs:
            print(search_run.path)


def cmd_prepare(args) -> None:
    from ganbench import specs
    from ganbench.data import make_builder, prepare_dataset

    def from_config(config):
        _need(args, "dataset")
        return specs.prepare_spec(config, args.dataset)

    spec = specs.require(_spec(args, "prepare", from_config), ("dataset", "type", "options", "sources"), "prepare")
    builder = make_builder(spec["dataset"], {**spec["options"], **spec["sources"]}, spec["type"])
    data = prepare_dataset(builder, args.out, args.cache_dir)
    print(f"{spec['dataset']}: {len(data.x_train)} train / {len(data.x_test)} test → {args.out}")


def cmd_train_classifier(args) -> None:
    from ganbench import specs
    from ganbench.data import load_prepared
    from ganbench.device import configure_threads
    from ganbench.errors import DataError
    from ganbench.io import write_json
    from ganbench.metrics.classifier import classifier_data, save_classifier, train_classifier
    from ganbench.timing import job_costs

    opts = specs.require(_spec(args, "classifier", specs.classifier_spec), ("classifier",), "classifier")["classifier"]
    configure_threads(args.threads)
    data = load_prepared(args.data)
    arrays, num_classes, about = classifier_data(data)  # a stacked dataset: its base images, channel by channel
    model, info = train_classifier(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                                   num_classes, opts)
    info.update({"dataset": data.meta["name"], **about})
    print(f"classifier for {data.meta['name']}: test accuracy {info['test_accuracy']:.4f} on "
          f"{info['test_images']} {'base ' if about['per_channel'] else ''}images ({info['train_seconds']:.1f} s)")
    if info["test_accuracy"] < float(opts["min_accuracy"]):
        raise DataError(f"evaluation.classifier.min_accuracy: the domain classifier for {data.meta['name']} reached "
                        f"{info['test_accuracy']:.4f} test accuracy, below the floor {opts['min_accuracy']}; its "
                        "features would make FID/KID meaningless. Train longer (evaluation.classifier.epochs).")
    save_classifier(model, args.out)
    write_json(args.info, {**info, **job_costs()})


def _evaluation(args) -> dict:
    from ganbench import specs
    from ganbench.metrics.extractors import check_options

    evaluation = specs.require(_spec(args, "evaluation", specs.evaluation_spec), ("evaluation",),
                               "evaluation")["evaluation"]
    if args.weights:  # downloaded by the pipeline (ganbench.weights) where the config gives no local file
        evaluation = {**evaluation, "feature_extractor_weights": args.weights}
    if args.prc_weights:
        evaluation = {**evaluation, "prc_feature_extractor_weights": args.prc_weights}
    if getattr(args, "split", None):
        evaluation = {**evaluation, "real_split": args.split}
    check_options(evaluation)
    return evaluation


def cmd_real_features(args) -> None:
    from ganbench.device import configure_threads
    from ganbench.metrics.evaluate import real_features

    evaluation = _evaluation(args)
    configure_threads(args.threads)
    info = real_features(args.data, args.classifier, evaluation, args.out, args.floor)
    print(f"real features: {info['num_samples']} {info['split']} samples via {info['extractor']}"
          + (f"; floor in {info.get('seconds', 0):.1f} s" if args.floor else ""))


def cmd_train(args) -> None:
    import traceback

    from ganbench import specs
    from ganbench.train.preemption import Preempted
    from ganbench.train.run import record_failure, train_run

    def from_config(config):
        from ganbench.io import read_json

        _need(args, "dataset", "variant", "seed")
        if args.dataset not in config.variant_datasets(args.variant):
            raise GanbenchError(f"variant {args.variant!r} does not run on dataset {args.dataset!r} in {args.config}")
        if args.sample is not None:
            return specs.search_train_spec(config, args.dataset, args.variant, args.sample, args.seed)
        selected = read_json(args.selected) if args.selected else None
        return specs.selected_train_spec(config, args.dataset, args.variant, args.seed, selected)

    spec = specs.require(_spec(args, "train", from_config), ("dataset", "variant", "seed", "settings", "runtime"),
                         "train")
    name = f"{spec['dataset']}/{spec['variant']}" + (f"/h{spec['h']}" if "h" in spec else "") + f"/seed{spec['seed']}"
    try:
        result = train_run(spec["settings"], args.data, args.out_dir, int(spec["seed"]), spec["runtime"],
                           threads=args.threads, reuse=args.reuse)
    except Preempted as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # noqa: BLE001 - any crash of training is recorded as the run's result
        if not args.record_failure:
            raise
        traceback.print_exc()
        result = record_failure(args.out_dir, spec["settings"], int(spec["seed"]), exc, spec["runtime"])
        print(f"{name}: failed: {result['message']} (recorded in {args.out_dir}/train.json)")
        return
    if result.get("copied_from") and args.reuse:
        print(f"{name}: the same run as {args.reuse} (identity {result['identity']}): copied, not trained again")
        return
    print(f"{name}: {result['status']} after {result['steps']} steps, "
          f"{result['images_per_second']:.0f} images/s on {result['device']} {result['message']}")


def cmd_evaluate(args) -> None:
    from ganbench.device import configure_threads
    from ganbench.metrics.evaluate import RunToEvaluate, evaluate_runs

    evaluation = _evaluation(args)
    if len(args.out) != len(args.run_dir):
        raise GanbenchError(f"evaluate: {len(args.run_dir)} --run-dir but {len(args.out)} --out; give one "
                            "metrics.json per run folder, in the same order")
    if args.seed and len(args.seed) != len(args.run_dir):
        raise GanbenchError(f"evaluate: {len(args.run_dir)} --run-dir but {len(args.seed)} --seed; give one seed "
                            "per run folder, in the same order, or none")
    configure_threads(args.threads)
    runs = []
    for i, (run_dir, out) in enumerate(zip(args.run_dir, args.out)):
        run_id = {"dataset": args.dataset, "variant": args.variant, "h": args.sample,
                  "seed": args.seed[i] if args.seed else None}
        runs.append(RunToEvaluate(Path(run_dir), Path(out), {k: v for k, v in run_id.items() if v is not None}))
    results = evaluate_runs(runs, args.data, evaluation, args.real_features, args.classifier)
    for run, result in zip(runs, results):
        print(f"evaluated {run.run_dir} in {result['eval_seconds']:.1f} s")
    print(f"evaluate job: {len(runs)} run(s), {results[0]['eval_job_cpu_seconds']:.1f} CPU s in all")


def cmd_select(args) -> None:
    from ganbench import specs
    from ganbench.io import read_json, write_json
    from ganbench.search import select

    def from_config(config):
        _need(args, "dataset", "variant")
        return specs.select_spec(config, args.dataset, args.variant)

    spec = specs.require(_spec(args, "select", from_config),
                         ("dataset", "variant", "metric", "higher_is_better", "seeds", "samples"), "select")
    record = select(spec, [(path, read_json(path)) for path in args.metrics])
    write_json(args.out, record)
    if record["selected"] is None:
        print(f"{spec['dataset']}/{spec['variant']}: {record['fallback']}")
    else:
        print(f"{spec['dataset']}/{spec['variant']}: selected h{record['selected']} {record['values']} "
              f"(validation {spec['metric']} {record['value']:.4g}) of {len(spec['samples'])} settings")


def cmd_download_weights(args) -> None:
    from ganbench.weights import WEIGHTS, fetch_weights, needed, weights_spec

    def from_config(config):
        _need(args, "extractor")
        if args.extractor not in WEIGHTS:
            raise GanbenchError(f"--extractor: no downloadable weights for {args.extractor!r}; expected one of "
                                f"{', '.join(WEIGHTS)}")
        wanted = {w.extractor for w in needed(config.evaluation).values()}
        if args.extractor not in wanted:
            raise GanbenchError(f"{args.config}: the evaluation downloads no weights for {args.extractor} (it uses "
                                "another extractor, or a local weights file)")
        return weights_spec(config.evaluation, WEIGHTS[args.extractor].filename)

    spec = _spec(args, "weights", from_config)
    path = fetch_weights(spec, args.out_dir or spec.get("cache") or "results/weights")
    print(f"weights: {path}")


def cmd_aggregate(args) -> None:
    from ganbench.report.aggregate import collect

    table = collect(args.metrics, args.out)
    print(f"{len(table)} runs → {args.out}")


def cmd_report(args) -> None:
    from ganbench.report.build import build_report

    config = _config(args)
    path = build_report(config, args.metrics, args.out_dir, results_dir=args.results_dir)
    print(f"report: {path}")


def _verbosity_options(parser: argparse.ArgumentParser, default) -> None:
    # on the main parser and on every command (`ganbench -v prepare ...` and `ganbench prepare -v ...`); the
    # commands' defaults are SUPPRESS so that they do not overwrite what was given before the command
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more log output: -v info (downloads, ...), -vv debug")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="errors only: no warnings, no progress lines")


def _weights_options(p: argparse.ArgumentParser) -> None:
    add_input(p, "--weights", help="weights file of evaluation.feature_extractor (where the config gives none)")
    add_input(p, "--prc-weights", help="VGG16 weights file for precision/recall (where the config gives none)")


def add_input(p: argparse.ArgumentParser, *names: str, **kwargs) -> argparse.Action:
    """An argument naming input files or folders: they are checked before the command runs (nothing is created
    when one is missing)."""
    action = p.add_argument(*names, **kwargs)
    label = "/".join(action.option_strings) or action.metavar or action.dest
    p.set_defaults(inputs=(*p.get_default("inputs"), (action.dest, label)))
    return action


def check_inputs(args: argparse.Namespace) -> None:
    for dest, label in args.inputs:
        value = getattr(args, dest)
        for path in value if isinstance(value, list) else [] if value is None else [value]:
            if not Path(path).exists():
                raise GanbenchError(f"{path}: no such file or folder ({label})")


@contextlib.contextmanager
def cli_logging(verbosity: int) -> Iterator[None]:
    """ganbench's log records on stderr while a command runs. Default: warnings and the progress lines; -v adds
    info messages (downloads, ...), -vv debug messages, -q leaves errors only. Other libraries' loggers are left as
    they are (Python prints their warnings)."""
    from ganbench.progress import log as progress_log

    own = logging.ERROR if verbosity < 0 else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    logger = logging.getLogger("ganbench")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    before = logger.level, progress_log.level
    logger.addHandler(handler)
    logger.setLevel(own)
    progress_log.setLevel(min(own, logging.INFO) if verbosity >= 0 else own)
    try:
        yield
    finally:  # main() may be called in-process (tests): leave logging as it was
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        progress_log.setLevel(before[1])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganbench", description="A GAN benchmark: prepare, train, evaluate, report.",
                                     epilog="Exit status: 0 done, 1 runtime error, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"ganbench {__version__}")
    _verbosity_options(parser, default=0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, config: bool = True, spec: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _verbosity_options(p, default=argparse.SUPPRESS)
        p.set_defaults(func=func, inputs=())
        if spec:
            add_input(p, "--config", help="benchmark config (YAML); or give --spec")
            p.add_argument("--spec", help="the job's slice of the config as JSON (what the Snakefile passes; "
                                          "see ganbench.specs)")
        elif config:
            add_input(p, "--config", required=True, help="benchmark config (YAML)")
        return p

    p = add("check", cmd_check, "Validate a config and count the runs it implies.")
    p.add_argument("--list", action="store_true", help="print every run path")

    p = add("prepare", cmd_prepare, "Download or generate one dataset into one compact .npz file.", spec=True)
    p.add_argument("--dataset", help="with --config: the dataset to prepare")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--cache-dir", default="results/downloads", help="where raw downloads are kept")

    p = add("train-classifier", cmd_train_classifier, "Train the domain classifier used as feature extractor.",
            spec=True)
    add_input(p, "--data", required=True, help="prepared .npz")
    p.add_argument("--out", required=True, help="classifier weights (.pt)")
    p.add_argument("--info", required=True, help="JSON with the test accuracy")
    p.add_argument("--threads", type=int)

    p = add("real-features", cmd_real_features, "Extract real-data features once per dataset (and the floor).",
            spec=True)
    add_input(p, "--data", required=True)
    add_input(p, "--classifier", help="domain classifier weights")
    _weights_options(p)
    p.add_argument("--split", choices=("train", "test", "val"), help="the real split (default: the config's)")
    p.add_argument("--out", required=True, help="features (.pt)")
    p.add_argument("--floor", help="JSON: real-vs-real metrics (the other split vs the evaluation split)")
    p.add_argument("--threads", type=int)

    p = add("train", cmd_train, "Train one (dataset, variant, seed); resumes from its last checkpoint.", spec=True)
    p.add_argument("--dataset", help="with --config")
    p.add_argument("--variant", help="with --config")
    p.add_argument("--seed", type=int, help="with --config")
    p.add_argument("--sample", type=int, help="with --config: sampled setting K of the variant's search (phase 1)")
    add_input(p, "--selected", help="with --config: the search's selected.json (phase 2 of a searched variant)")
    p.add_argument("--reuse", help="a finished run's folder that may be this very run: copied when its identity "
                                   "matches (a search's phase-1 run of the selected setting)")
    add_input(p, "--data", required=True, help="prepared .npz")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int)
    p.add_argument("--record-failure", action="store_true",
                   help="when training raises, write train.json with status 'failed' and the error, and exit 0 "
                        "(the DAG does this, so one crashed run does not stop the others' evaluation and report)")

    p = add("evaluate", cmd_evaluate, "Compute every metric of trained runs (one process) into their metrics.json.",
            spec=True)
    add_input(p, "--run-dir", required=True, nargs="+", help="run folder(s) of one dataset")
    add_input(p, "--data", required=True)
    add_input(p, "--real-features", help="real.pt from real-features (image datasets)")
    add_input(p, "--classifier", help="domain classifier weights (image datasets)")
    _weights_options(p)
    p.add_argument("--split", choices=("train", "test", "val"),
                   help="the real split (default: the config's; val for a search's phase 1)")
    p.add_argument("--out", required=True, nargs="+", help="metrics.json per run folder, in the same order")
    p.add_argument("--dataset")
    p.add_argument("--variant")
    p.add_argument("--sample", type=int, help="the search setting the runs trained (recorded as h)")
    p.add_argument("--seed", type=int, nargs="+", help="seed per run folder, in the same order")
    p.add_argument("--threads", type=int)

    p = add("select", cmd_select, "Select a search's best setting from its phase-1 validation metrics.", spec=True)
    p.add_argument("--dataset", help="with --config")
    p.add_argument("--variant", help="with --config")
    add_input(p, "--metrics", required=True, nargs="+", help="metrics.json of every phase-1 run (validation split)")
    p.add_argument("--out", required=True, help="selected.json")

    p = add("download-weights", cmd_download_weights,
            "Download a feature network's weights (inception-v3-compat, vgg16) into a cache, verified.", spec=True)
    p.add_argument("--extractor", help="with --config: inception-v3-compat or vgg16")
    p.add_argument("--out-dir", help="the cache folder (default: evaluation.weights_cache, else results/weights)")

    p = add("aggregate", cmd_aggregate, "Collect metrics.json files into one tidy CSV.", config=False)
    p.add_argument("--out", required=True)
    add_input(p, "metrics", nargs="+", metavar="METRICS.json")

    p = add("report", cmd_report, "Build the HTML report from the aggregated metrics.")
    add_input(p, "--metrics", required=True, help="metrics.csv from aggregate")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out-dir", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here (argparse)
    with cli_logging(args.verbose - args.quiet):
        try:
            check_inputs(args)
            args.func(args)
        except (GanbenchError, OSError) as exc:  # bad input, missing or unreadable files: one line, no traceback
            print(f"ganbench {args.command}: error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

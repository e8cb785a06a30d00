"""The ``ganbench`` command line: one subcommand per pipeline stage. Snakemake rules call these; so can users.

    ganbench check      --config C                      validate a config, list its runs
    ganbench prepare    --config C --dataset D --out F  download/generate one dataset into one .npz
    ganbench train-classifier --config C --data F --out W --info J
    ganbench real-features    --config C --data F [--classifier W] --out R [--floor J]
    ganbench train      --config C --dataset D --variant V --seed S --data F --out-dir DIR
    ganbench evaluate   --config C --run-dir DIR... --data F [--real-features R] [--classifier W] --out M...
    ganbench aggregate  --out CSV METRICS.json...
    ganbench report     --config C --metrics CSV --out-dir DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.errors import GanbenchError


def _config(args):
    from ganbench.config import Config

    return Config.load(args.config)


def cmd_check(args) -> None:
    config = _config(args)
    runs = list(config.runs())
    print(f"{args.config}: valid; {len(runs)} runs ({len(config.variant_names)} variants, "
          f"{len(config.datasets)} datasets, {len(config.seeds)} seeds)")
    if args.list:
        for run in runs:
            print(run.path)


def cmd_prepare(args) -> None:
    from ganbench.data import prepare_dataset

    config = _config(args)
    data = prepare_dataset(config.dataset_builder(args.dataset), args.out, args.cache_dir)
    print(f"{args.dataset}: {len(data.x_train)} train / {len(data.x_test)} test → {args.out}")


def cmd_train_classifier(args) -> None:
    from ganbench.data import load_prepared
    from ganbench.device import configure_threads
    from ganbench.errors import DataError
    from ganbench.io import write_json
    from ganbench.metrics.classifier import classifier_data, save_classifier, train_classifier
    from ganbench.metrics.extractors import check_options
    from ganbench.timing import job_costs

    config = _config(args)
    check_options(config.evaluation)
    configure_threads(args.threads)
    data = load_prepared(args.data)
    opts = config.evaluation["classifier"]
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


def cmd_real_features(args) -> None:
    from ganbench.device import configure_threads
    from ganbench.metrics.evaluate import real_features
    from ganbench.metrics.extractors import check_options

    config = _config(args)
    check_options(config.evaluation)
    configure_threads(args.threads)
    info = real_features(args.data, args.classifier, config.evaluation, args.out, args.floor)
    print(f"real features: {info['num_samples']} {info['split']} samples via {info['extractor']}"
          + (f"; floor in {info.get('seconds', 0):.1f} s" if args.floor else ""))


def cmd_train(args) -> None:
    from ganbench.train.run import train_run

    config = _config(args)
    if args.dataset not in config.variant_datasets(args.variant):
        raise GanbenchError(f"variant {args.variant!r} does not run on dataset {args.dataset!r} in {args.config}")
    result = train_run(config.settings(args.variant), args.data, args.out_dir, args.seed, config.runtime,
                       threads=args.threads)
    print(f"{args.dataset}/{args.variant}/seed{args.seed}: {result['status']} after {result['steps']} steps, "
          f"{result['images_per_second']:.0f} images/s on {result['device']} {result['message']}")


def cmd_evaluate(args) -> None:
    from ganbench.device import configure_threads
    from ganbench.metrics.evaluate import RunToEvaluate, evaluate_runs
    from ganbench.metrics.extractors import check_options

    config = _config(args)
    check_options(config.evaluation)
    if len(args.out) != len(args.run_dir):
        raise GanbenchError(f"evaluate: {len(args.run_dir)} --run-dir but {len(args.out)} --out; give one "
                            "metrics.json per run folder, in the same order")
    if args.seed and len(args.seed) != len(args.run_dir):
        raise GanbenchError(f"evaluate: {len(args.run_dir)} --run-dir but {len(args.seed)} --seed; give one seed "
                            "per run folder, in the same order, or none")
    configure_threads(args.threads)
    runs = []
    for i, (run_dir, out) in enumerate(zip(args.run_dir, args.out)):
        run_id = {"dataset": args.dataset, "variant": args.variant, "seed": args.seed[i] if args.seed else None}
        runs.append(RunToEvaluate(Path(run_dir), Path(out), {k: v for k, v in run_id.items() if v is not None}))
    results = evaluate_runs(runs, args.data, config.evaluation, args.real_features, args.classifier)
    for run, result in zip(runs, results):
        print(f"evaluated {run.run_dir} in {result['eval_seconds']:.1f} s")
    print(f"evaluate job: {len(runs)} run(s), {results[0]['eval_job_cpu_seconds']:.1f} CPU s in all")


def cmd_aggregate(args) -> None:
    from ganbench.report.aggregate import collect

    table = collect(args.metrics, args.out)
    print(f"{len(table)} runs → {args.out}")


def cmd_report(args) -> None:
    from ganbench.report.build import build_report

    config = _config(args)
    path = build_report(config, args.metrics, args.out_dir, results_dir=args.results_dir)
    print(f"report: {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganbench", description="A GAN benchmark: prepare, train, evaluate, report.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if config:
            p.add_argument("--config", required=True, help="benchmark config (YAML)")
        p.set_defaults(func=func)
        return p

    p = add("check", cmd_check, "Validate a config and count the runs it implies.")
    p.add_argument("--list", action="store_true", help="print every run path")

    p = add("prepare", cmd_prepare, "Download or generate one dataset into one compact .npz file.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--cache-dir", default="results/downloads", help="where raw downloads are kept")

    p = add("train-classifier", cmd_train_classifier, "Train the domain classifier used as feature extractor.")
    p.add_argument("--data", required=True, help="prepared .npz")
    p.add_argument("--out", required=True, help="classifier weights (.pt)")
    p.add_argument("--info", required=True, help="JSON with the test accuracy")
    p.add_argument("--threads", type=int)

    p = add("real-features", cmd_real_features, "Extract real-data features once per dataset (and the floor).")
    p.add_argument("--data", required=True)
    p.add_argument("--classifier", help="domain classifier weights")
    p.add_argument("--out", required=True, help="features (.pt)")
    p.add_argument("--floor", help="JSON: real-vs-real metrics (the other split vs the evaluation split)")
    p.add_argument("--threads", type=int)

    p = add("train", cmd_train, "Train one (dataset, variant, seed); resumes from its last checkpoint.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data", required=True, help="prepared .npz")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int)

    p = add("evaluate", cmd_evaluate, "Compute every metric of trained runs (one process) into their metrics.json.")
    p.add_argument("--run-dir", required=True, nargs="+", help="run folder(s) of one dataset")
    p.add_argument("--data", required=True)
    p.add_argument("--real-features", help="real.pt from real-features (image datasets)")
    p.add_argument("--classifier", help="domain classifier weights (image datasets)")
    p.add_argument("--out", required=True, nargs="+", help="metrics.json per run folder, in the same order")
    p.add_argument("--dataset")
    p.add_argument("--variant")
    p.add_argument("--seed", type=int, nargs="+", help="seed per run folder, in the same order")
    p.add_argument("--threads", type=int)

    p = add("aggregate", cmd_aggregate, "Collect metrics.json files into one tidy CSV.", config=False)
    p.add_argument("--out", required=True)
    p.add_argument("metrics", nargs="+")

    p = add("report", cmd_report, "Build the HTML report from the aggregated metrics.")
    p.add_argument("--metrics", required=True, help="metrics.csv from aggregate")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out-dir", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GanbenchError as exc:
        print(f"ganbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

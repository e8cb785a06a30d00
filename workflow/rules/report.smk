# Stage 4: one tidy table of every run, the config as run, then the HTML report.


rule aggregate:
    input:
        [f"{RESULTS}/runs/{r.path}/metrics.json" for r in RUNS],
    output:
        report(f"{RESULTS}/metrics.csv", caption="../report/metrics.rst", category="Tables"),
    log:
        f"{RESULTS}/logs/aggregate.log",
    shell:
        "ganbench aggregate --out {output} {input} > {log} 2>&1"


# The whole config as validated (whatever mix of --configfile/--config produced it) for the report: labels, order,
# baseline and report options live only here, so changing them rebuilds the report and nothing else.
rule config_record:
    output:
        f"{RESULTS}/config.yaml",
    params:
        config=specs.canonical(CFG.raw),
    run:
        from ganbench.config import write_config

        write_config(CFG.raw, output[0])


rule report:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        config=f"{RESULTS}/config.yaml",
        floors=[f"{RESULTS}/features/{d}/floor.json" for d in sorted(IMAGE_DATASETS)],
        classifiers=[f"{RESULTS}/classifier/{d}/info.json" for d in sorted(IMAGE_DATASETS)],
        data=[f"{RESULTS}/data/{d}.npz" for d in CFG.datasets],
        published=PUBLISHED,  # the papers' numbers shown beside ours: an edit rebuilds the report
    output:
        report(
            directory(f"{RESULTS}/report"),
            htmlindex="index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    params:
        results=RESULTS,
    log:
        f"{RESULTS}/logs/report.log",
    shell:
        "ganbench report --config {input.config} --metrics {input.metrics} --results-dir {params.results} "
        "--out-dir {output} > {log} 2>&1"

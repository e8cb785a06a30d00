# Stage 4: one tidy table of every run, then the HTML report.


rule aggregate:
    input:
        [f"{RESULTS}/runs/{r.path}/metrics.json" for r in RUNS],
    output:
        report(f"{RESULTS}/metrics.csv", caption="../report/metrics.rst", category="Tables"),
    log:
        f"{RESULTS}/logs/aggregate.log",
    shell:
        "{GANBENCH} aggregate --out {output} {input} > {log} 2>&1"


rule report:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        floors=[f"{RESULTS}/features/{d}/floor.json" for d in sorted(IMAGE_DATASETS)],
        classifiers=[f"{RESULTS}/classifier/{d}/info.json" for d in sorted(IMAGE_DATASETS)],
        data=[f"{RESULTS}/data/{d}.npz" for d in CFG.datasets],
        published=PUBLISHED,  # the papers' numbers shown beside ours: an edit rebuilds the report
    output:
        report(directory(f"{RESULTS}/report"), htmlindex="index.html", caption="../report/index.rst",
               category="Report"),
    params:
        config=CONFIG_FILE,
    log:
        f"{RESULTS}/logs/report.log",
    shell:
        "{GANBENCH} report --config {params.config} --metrics {input.metrics} --results-dir {RESULTS} "
        "--out-dir {RESULTS}/report > {log} 2>&1"

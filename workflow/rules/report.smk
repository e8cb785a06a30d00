# Stage 4: one tidy table of every run, the config as run, then the HTML report.


rule aggregate:
    input:
        [f"{RESULTS}/runs/{r.path}/metrics.json" for r in RUNS],
    output:
        report(
            f"{RESULTS}/metrics.csv",
            caption="../report/metrics.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate.tsv"
    conda:
        "../envs/ganbench.yaml"
    shell:
        "python -m ganbench aggregate --out {output} {input} > {log} 2>&1"


# The whole config as validated (whatever mix of --configfile/--config produced it) for the report: labels, order,
# baseline and report options live only here, so changing them rebuilds the report and nothing else. A `run:` block
# (in Snakemake's own process), since the whole config may be longer than one command line can carry.
rule config_record:
    output:
        f"{RESULTS}/config.yaml",
    log:
        f"{RESULTS}/logs/config_record.log",
    benchmark:
        f"{RESULTS}/benchmarks/config_record.tsv"
    params:
        config=specs.canonical(CFG.raw),
    run:
        write_config(CFG.raw, output[0], log[0])


rule report:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        config=f"{RESULTS}/config.yaml",
        floors=[f"{RESULTS}/features/{d}/floor.json" for d in sorted(IMAGE_DATASETS)],
        classifiers=[f"{RESULTS}/classifier/{d}/info.json" for d in sorted(IMAGE_DATASETS)],
        data=[f"{RESULTS}/data/{d}.npz" for d in CFG.datasets],
        searches=[f"{search_path(RESULTS, d, v)}/selected.json" for d, v in sorted(SEARCHED)],
        published=PUBLISHED,  # the papers' numbers shown beside ours: an edit rebuilds the report
    output:
        report(
            directory(f"{RESULTS}/report"),
            htmlindex="index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        "../envs/ganbench.yaml"
    params:
        results=lambda w, input: str(Path(input.metrics).parent),
    shell:
        "python -m ganbench report --config {input.config} --metrics {input.metrics} --results-dir {params.results} "
        "--out-dir {output} > {log} 2>&1"

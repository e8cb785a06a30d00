# Stage 1: download or generate each dataset once into one compact .npz.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.npz",
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{dataset}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    params:
        identity=lambda w: specs.canonical(specs.prepare_identity(specs.prepare_spec(CFG, w.dataset))),
        spec=lambda w, input: specs.canonical(specs.prepare_spec(CFG, w.dataset)),
        cache=lambda w, output: str(Path(output[0]).parent.parent / "downloads"),
    shell:
        "python -m ganbench prepare --spec {params.spec:q} --out {output} --cache-dir {params.cache} > {log} 2>&1"

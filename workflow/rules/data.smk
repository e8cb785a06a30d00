# Stage 1: download or generate each dataset once into one compact .npz.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.npz",
    params:
        identity=lambda w: specs.canonical(specs.prepare_identity(specs.prepare_spec(CFG, w.dataset))),
        spec=lambda w, input: specs.canonical(specs.prepare_spec(CFG, w.dataset)),
        cache=f"{RESULTS}/downloads",
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    threads: 1
    shell:
        "ganbench prepare --spec {params.spec:q} --out {output} --cache-dir {params.cache} > {log} 2>&1"

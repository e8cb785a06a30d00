# Stage 1: download or generate each dataset once into one compact .npz.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.npz",
    params:
        config=CONFIG_FILE,
        fingerprint=lambda w: fingerprint(CFG.datasets[w.dataset]),
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    threads: 1
    shell:
        "{GANBENCH} prepare --config {params.config} --dataset {wildcards.dataset} --out {output} "
        "--cache-dir {RESULTS}/downloads > {log} 2>&1"

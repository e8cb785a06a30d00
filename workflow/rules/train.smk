# Stage 2: one job per (dataset, variant, seed). ckpt/ is deliberately not an output: Snakemake deletes the
# outputs of an interrupted job before rerunning it, and the checkpoints are what the rerun resumes from.


rule train:
    input:
        data=f"{RESULTS}/data/{{dataset}}.npz",
    output:
        train=f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{{seed}}/train.json",
        generator=f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{{seed}}/generator.pt",
        samples=f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{{seed}}/samples.png",
        log=f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{{seed}}/log.csv",
    params:
        config=CONFIG_FILE,
        out_dir=run_dir,
        fingerprint=lambda w: fingerprint(CFG.settings(w.variant), CFG.runtime),
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{variant}}/seed{{seed}}.log",
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    shell:
        "{GANBENCH} train --config {params.config} --dataset {wildcards.dataset} --variant {wildcards.variant} "
        "--seed {wildcards.seed} --data {input.data} --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"

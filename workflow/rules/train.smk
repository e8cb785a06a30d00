# Stage 2: one job per (dataset, variant, seed).
#
# train.json is the only declared output: written last, for every run that ends ("ok", "diverged", or "failed"
# with the error when training raised). Snakemake deletes a declared output before it reruns a job, so nothing else
# of the run folder is declared: an interrupted job keeps its checkpoints (ckpt/) and the rerun resumes from them,
# after ganbench.runs has checked that they were made under the same settings (else they are moved to
# results/stale/). On SIGTERM (a cluster's time limit or preemption) training writes a checkpoint of the current
# step and the job exits 143; a rerun, or the profile's retries, resumes from there.
#
# A searched variant's runs (phase 2 of its search, workflow/rules/search.smk) train the setting its `select`
# checkpoint chose: they wait for it, and their spec carries it.


rule train:
    input:
        data=f"{RESULTS}/data/{{dataset}}.npz",
        selection=selection_wait,
    output:
        train=f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{{seed}}/train.json",
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}/{{variant}}/seed{{seed}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        identity=lambda w: specs.canonical(specs.train_param(phase2_spec(w))),
        spec=lambda w, input: specs.canonical(phase2_spec(w)),
        out_dir=lambda w, output: str(Path(output.train).parent),
        reuse=lambda w, input: reuse_args(w),
    shell:
        "python -m ganbench train --spec {params.spec:q} --data {input.data} --out-dir {params.out_dir} "
        "{params.reuse} --threads {threads} --record-failure > {log} 2>&1"

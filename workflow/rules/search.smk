# Stage 2b: hyperparameter searches (ganbench/search.py), for the variants with a `search:` block.
#
# phase 1       train_search: every sampled setting h of a variant, with the search's seeds, into
#               results/search/{dataset}/{variant}/h{h}/seed{seed}/ (run folders like results/runs/...);
#               evaluate_search: each on the validation split (real_features_val: its real side, no floor).
# select        a checkpoint per (dataset, variant): the best setting by the mean validation metric, into
#               results/search/{dataset}/{variant}/selected.json. Its inputs are phase-1 metrics only.
# phase 2       the ordinary train/evaluate rules on results/runs/..., with the selected setting (train.smk):
#               a seed phase 1 already trained with it is copied, not trained again.
#
# Reruns: a new or changed sampled setting trains only its own phase-1 runs, then selects again; phase-2 runs
# retrain only when the selection (the setting it chose) changes.


use rule train as train_search with:
    input:
        data=f"{RESULTS}/data/{{dataset}}.npz",
    output:
        train=f"{RESULTS}/search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}/train.json",
    log:
        f"{RESULTS}/logs/train_search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}.tsv"
    params:
        identity=lambda w: specs.canonical(
            specs.train_param(specs.search_train_spec(CFG, w.dataset, w.variant, w.h, w.seed))
        ),
        spec=lambda w, input: specs.canonical(specs.search_train_spec(CFG, w.dataset, w.variant, w.h, w.seed)),
        out_dir=lambda w, output: str(Path(output.train).parent),
        reuse="",


use rule real_features as real_features_val with:
    output:
        features=f"{RESULTS}/features/{{dataset}}/val/real.pt",
    log:
        f"{RESULTS}/logs/features/{{dataset}}.val.log",
    benchmark:
        f"{RESULTS}/benchmarks/features/{{dataset}}.val.tsv"
    params:
        spec=specs.canonical(specs.evaluation_spec(CFG, "val")),
        weights=weights_args,
        floor="",  # the floor compares another split with this one: the test split, which phase 1 never reads


rule evaluate_search:
    input:
        unpack(evaluate_search_inputs),
    output:
        f"{RESULTS}/search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate_search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_search/{{dataset}}/{{variant}}/h{{h}}/seed{{seed}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        spec=specs.canonical(specs.evaluation_spec(CFG, "val")),
        run_dir=lambda w, input: str(Path(input.train).parent),
        image_args=image_args,
    shell:
        "python -m ganbench evaluate --spec {params.spec:q} --run-dir {params.run_dir} --data {input.data} "
        "{params.image_args} --out {output} --dataset {wildcards.dataset} --variant {wildcards.variant} "
        "--sample {wildcards.h} --seed {wildcards.seed} --threads {threads} > {log} 2>&1"


checkpoint select:
    input:
        search_metrics,
    output:
        f"{RESULTS}/search/{{dataset}}/{{variant}}/selected.json",
    log:
        f"{RESULTS}/logs/select/{{dataset}}/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/{{dataset}}/{{variant}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    params:
        spec=lambda w: specs.canonical(specs.select_spec(CFG, w.dataset, w.variant)),
    shell:
        "python -m ganbench select --spec {params.spec:q} --metrics {input} --out {output} > {log} 2>&1"

# Stage 3: per image dataset a domain classifier and the real-data features (once), then every run's metrics.
#
# train_classifier: a stacked dataset (Stacked MNIST / Fashion-MNIST) gets a classifier of its base dataset, trained
#   on the single-channel images in the channels of its own prepared train split (ganbench.metrics.classifier).
# real_features: real.pt holds everything the runs share (real features, FID statistics, KID real-vs-real sums, k-NN
#   radii, the memorization reference of training features); floor.json the real-vs-real value of every metric.
# evaluate: one job per (dataset, variant) evaluates every seed's run in one process, so start-up, imports, the
#   dataset, the feature networks and the real side are paid once per job, not once per run (ganbench.timing and
#   benchmarks/eval_cost.py measure what that saves); each run still gets its own metrics.json. A run that failed or
#   diverged gets a metrics.json with its status and no numbers. Per run: one pass of generated samples through
#   every feature network; WGAN runs also read the run's newest checkpoint under ckpt/ (the critic).


rule train_classifier:
    input:
        data=f"{RESULTS}/data/{{dataset}}.npz",
    output:
        model=f"{RESULTS}/classifier/{{dataset}}/model.pt",
        info=f"{RESULTS}/classifier/{{dataset}}/info.json",
    log:
        f"{RESULTS}/logs/classifier/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classifier/{{dataset}}.tsv"
    # One thread and a high priority: it starts as soon as its data is prepared and runs beside the 1-thread training
    # jobs. With 2 threads it waited for two cores to be free at once, which on 2 cores is after the last training
    # job, and it and the real features then ran as a serial tail (the cluster profiles set its threads themselves).
    priority: 10
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    params:
        spec=specs.canonical(specs.classifier_spec(CFG)),
    shell:
        "python -m ganbench train-classifier --spec {params.spec:q} --data {input.data} --out {output.model} "
        "--info {output.info} --threads {threads} > {log} 2>&1"


rule real_features:
    input:
        unpack(weights_inputs),
        data=f"{RESULTS}/data/{{dataset}}.npz",
        classifier=f"{RESULTS}/classifier/{{dataset}}/model.pt",
    output:
        features=f"{RESULTS}/features/{{dataset}}/real.pt",
        floor=f"{RESULTS}/features/{{dataset}}/floor.json",
    log:
        f"{RESULTS}/logs/features/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features/{{dataset}}.tsv"
    priority: 10
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    params:
        spec=specs.canonical(specs.evaluation_spec(CFG)),
        weights=weights_args,
        floor=lambda w, output: f"--floor {output.floor}",
    shell:
        "python -m ganbench real-features --spec {params.spec:q} --data {input.data} "
        "--classifier {input.classifier} {params.weights} --out {output.features} {params.floor} "
        "--threads {threads} > {log} 2>&1"


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        [f"{RESULTS}/runs/{{dataset}}/{{variant}}/seed{seed}/metrics.json" for seed in CFG.seeds],
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{dataset}}/{{variant}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        spec=specs.canonical(specs.evaluation_spec(CFG)),
        run_dirs=lambda w, input: " ".join(str(Path(input[f"train{seed}"]).parent) for seed in CFG.seeds),
        seeds=" ".join(str(seed) for seed in CFG.seeds),
        image_args=image_args,
    shell:
        "python -m ganbench evaluate --spec {params.spec:q} --run-dir {params.run_dirs} --data {input.data} "
        "{params.image_args} --out {output} --dataset {wildcards.dataset} --variant {wildcards.variant} "
        "--seed {params.seeds} --threads {threads} > {log} 2>&1"

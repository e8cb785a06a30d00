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


# The pretrained weights of a paper-comparable feature network (evaluation.feature_extractor inception-v3-compat,
# evaluation.prc_feature_extractor vgg16) that the config gives no local file for: downloaded once, verified by the
# SHA-256 prefix in the file's name (ganbench/weights.py), into evaluation.weights_cache (default results/weights,
# a folder shared by several benchmarks works too: a file already there that verifies is kept). A local rule, like prepare_data: it runs where the
# internet is. Where from (evaluation.weights_mirrors) is no part of the file, so it never makes the job rerun.
rule download_weights:
    output:
        f"{WEIGHTS_DIR}/{{file}}",
    log:
        f"{RESULTS}/logs/weights/{{file}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/weights/{{file}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    params:
        spec=lambda w, input: specs.canonical(weights.weights_spec(CFG.evaluation, w.file)),
        out_dir=lambda w, output: str(Path(output[0]).parent),
    shell:
        "python -m ganbench download-weights --spec {params.spec:q} --out-dir {params.out_dir} > {log} 2>&1"

# The two entry points of the README. Both set up .venv first (scripts/setup.sh; cheap when up to date).
.PHONY: benchmark test setup

benchmark:
	scripts/setup.sh
	.venv/bin/snakemake --cores all   # profiles/default (keep-going, rerun-incomplete) is picked up by itself

test:
	scripts/setup.sh test
	.venv/bin/ruff check .   # lint first (pyproject.toml [tool.ruff]): pyflakes, pycodestyle, isort, bugbear
	.venv/bin/snakemake --lint            # Snakemake's best practices (exit 1 on any finding)
	.venv/bin/snakefmt --check Snakefile workflow/
	.venv/bin/python -m pytest -q

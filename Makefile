# The two entry points of the README. Both set up .venv first (scripts/setup.sh; cheap when up to date).
.PHONY: benchmark test setup

benchmark:
	scripts/setup.sh
	.venv/bin/snakemake --cores all   # profiles/default (keep-going, rerun-incomplete) is picked up by itself

test:
	scripts/setup.sh test
	.venv/bin/ruff check .   # lint first (pyproject.toml [tool.ruff]): pyflakes, pycodestyle, isort, bugbear
	.venv/bin/python -m pytest -q

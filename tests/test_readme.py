"""The README stays true: its config excerpt is config/config.yaml's, the commands and options it names exist, its
progress example is what training writes and the thresholds it states are the code's."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from ganbench.cli import build_parser
from ganbench.progress import MIN_FRACTION, MIN_SECONDS, SECONDS_ENV

README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def assert_within(part, whole, where: str = "") -> None:
    """Every key and value of ``part`` is ``whole``'s (variants matched by name)."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key}: not in config/config.yaml"
            assert_within(value, whole[key], f"{where}.{key}")
    elif isinstance(part, list) and part and all(isinstance(v, dict) and "name" in v for v in part):
        by_name = {v["name"]: v for v in whole}
        for value in part:
            assert value["name"] in by_name, f"{where}: no variant {value['name']!r} in config/config.yaml"
            assert_within(value, by_name[value["name"]], f"{where}[{value['name']}]")
    else:
        assert part == whole, f"{where}: README says {part!r}, config/config.yaml has {whole!r}"


def test_config_excerpt_matches_the_shipped_config():
    (block,) = re.findall(r"```yaml\n(.*?)```", section("Configs"), re.S)[:1]
    excerpt = yaml.safe_load(block)
    assert {"seeds", "datasets", "defaults", "variants"} <= set(excerpt)
    assert_within(excerpt, yaml.safe_load((REPO / "config" / "config.yaml").read_text()), "config")


def test_documented_commands_and_options_exist():
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    listed = re.search(r"`ganbench (prepare \|.*?)`", README.replace("\n", " ")).group(1)
    assert {c.strip() for c in listed.split("|")} == commands
    text = section("The `ganbench` command")
    options = {o for a in parser._actions for o in a.option_strings}
    for flag in ("--version", "-v", "-q"):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) and flag in options, flag
    assert "-vv" in text


def test_progress_paragraph_states_the_codes_thresholds_and_format():
    from test_cli import PROGRESS_RE

    text = section("The `ganbench` command")
    assert f"at least {MIN_FRACTION * 100:.0f} % of the steps and {MIN_SECONDS:.0f} s" in " ".join(text.split())
    assert f"at most {round(1 / MIN_FRACTION) + 2} lines a run" in " ".join(text.split()) and f"`{SECONDS_ENV}`" in text
    (example,) = re.findall(r"```\n(.*? INFO ganbench\.progress: .*?)\n```", text)
    assert PROGRESS_RE.search(example), example


@pytest.mark.parametrize("name", ["environment.yml", "environment-gpu.yml"])
def test_conda_commands_name_the_files_environments(name):
    env = yaml.safe_load((REPO / name).read_text())["name"]
    assert f"`conda env create -f {name} && conda activate {env}`" in section("Set-up details")


# Where each command of the README's code blocks is exercised: by CI itself (.ci/run) or by these tests. A command
# added to the README without a place here fails the test below.
EXERCISED = {
    "make benchmark": [".ci/run"],
    "make test": [".ci/run"],
    ".venv/bin/snakemake --cores all": [".ci/run (make benchmark)",
                                        "test_research_loop.py::test_every_shipped_config_plans_exactly_its_runs_from"
                                        "_the_repository_root"],
    ".venv/bin/snakemake --cores all --configfile config/modes.yaml": [
        "test_research_loop.py::test_every_shipped_config_plans_exactly_its_runs_from_the_repository_root"],
    ".venv/bin/snakemake --cores 2 --configfile config/lucic2018-cpu.yaml": [
        "test_search.py::test_the_shipped_protocols_check_and_plan",
        "test_research_loop.py::test_every_shipped_config_plans_exactly_its_runs_from_the_repository_root"],
    ".venv/bin/snakemake -n": [
        "test_research_loop.py::test_every_shipped_config_plans_exactly_its_runs_from_the_repository_root"],
    ".venv/bin/snakemake --report results/snakemake-report.zip": [
        "test_pipeline.py::test_snakemake_report_bundles_the_marked_outputs"],
    "snakemake --profile workflow/profiles/slurm --configfile config/lucic2018.yaml": [
        "test_research_loop.py::test_the_slurm_profile_command_of_the_readme_plans_the_lucic_config",
        "test_slurm.py::test_tiny_benchmark_through_slurm"],
}


def readme_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(" ".join(command.split()))
    return commands


def test_every_readme_command_is_exercised_by_ci_or_a_test():
    commands = readme_commands()
    assert "make benchmark" in commands and "make test" in commands
    missing = set(commands) - set(EXERCISED)
    assert not missing, f"README commands no test or CI step runs: {missing}"
    ci = (REPO / ".ci" / "run").read_text()
    for command, places in EXERCISED.items():
        for place in places:
            if place.startswith(".ci/run"):
                target = command if place == ".ci/run" else place.split("(")[1].rstrip(")")
                assert re.search(rf"^\s*{re.escape(target)}\s*(#.*)?$", ci, re.M), f".ci/run does not run {target!r}"
            else:
                module, test = place.split("::")
                assert re.search(rf"^def {re.escape(test)}\(", (REPO / "tests" / module).read_text(), re.M), place

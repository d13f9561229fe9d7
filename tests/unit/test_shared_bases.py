"""A spec that other specs in environments/ extend is a shared base, not an environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.cli import app as cli
from provisioner.spec.overlay import scan_folder

BASE = """\
region: us-east-1
networks:
  main: {cidr: 10.0.0.0/16}
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def names(files: tuple[Path, ...]) -> list[str]:
    return [file.stem for file in files]


def test_files_that_others_extend_are_bases_and_the_rest_environments(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "base.yaml": BASE,
            "dev.yaml": "extends: base\n",
            "prod.yml": "# production\nextends: base.yaml\ncloud: aws\n",
            "staging.yaml": "{cloud: aws, extends: base}\n",
            "solo.yaml": BASE,
        },
    )
    scanned = scan_folder(folder)
    assert names(scanned.environments) == ["dev", "prod", "solo", "staging"]
    assert {base.name: names(users) for base, users in scanned.bases.items()} == {
        "base.yaml": ["dev", "prod", "staging"]
    }
    assert names(scanned.built_on(folder / "base.yaml")) == ["dev", "prod", "staging"]
    assert scanned.built_on(folder / "dev.yaml") == ()


def test_a_base_of_a_base_is_a_base_of_the_environments_built_on_both(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"root.yaml": BASE, "middle.yaml": "extends: root\n", "leaf.yaml": "extends: middle\n"},
    )
    scanned = scan_folder(folder)
    assert names(scanned.environments) == ["leaf"]
    assert {base.stem: names(users) for base, users in scanned.bases.items()} == {
        "middle": ["leaf"],
        "root": ["leaf"],
    }


def test_only_a_top_level_extends_of_an_existing_sibling_makes_a_base(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "base.yaml": BASE,
            "nested.yaml": "roles:\n  web: {playbook: web.yml, vars: {extends: base}}\n",
            "missing.yaml": "extends: nowhere\n",
            "broken.yaml": "extends: [base\n",
            "list.yaml": "- extends: base\n",
        },
    )
    scanned = scan_folder(folder)
    assert scanned.bases == {}
    assert names(scanned.environments) == ["base", "broken", "list", "missing", "nested"]


def test_specs_that_extend_each_other_in_a_circle_stay_environments(tmp_path: Path) -> None:
    folder = write(tmp_path, {"first.yaml": "extends: second\n", "second.yaml": "extends: first\n"})
    scanned = scan_folder(folder)
    assert names(scanned.environments) == ["first", "second"]
    assert scanned.bases == {}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project like the repository's: base, and dev and prod that extend it."""
    write(
        tmp_path / "environments",
        {
            "base.yaml": BASE,
            "dev.yaml": "extends: base\n",
            "prod.yaml": "extends: base\ncloud: aws\n",
        },
    )
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "state").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PROVISION_ENVIRONMENTS_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "base", "--yes"],
        ["plan", "base"],
        ["down", "base", "--yes"],
        ["drift", "base"],
        ["graph", "base"],
        ["plan", "environments/base.yaml"],
    ],
)
def test_a_command_on_a_shared_base_is_refused_in_one_line_before_anything_starts(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "error: 'base' is a shared base that dev and prod extend, not an environment"
    ]
    assert list((project / "state").iterdir()) == []  # no local cloud, lock, run or log


def test_validate_checks_the_environments_and_says_the_base_is_part_of_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "· environments/base.yaml: a shared base, checked as part of dev and prod",
        "✓ environments/dev.yaml: valid (1 resources, 1 waves)",
        "✓ environments/prod.yaml: valid (1 resources, 1 waves)",
    ]
    assert cli.main(["validate", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [report["environment"] for report in reports] == [
        "environments/dev.yaml",
        "environments/prod.yaml",
    ]


def test_validate_of_a_base_checks_the_environments_built_on_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "environments" / "dev.yaml").write_text("extends: base\nregion: eu-west-1\n")
    (project / "environments" / "base.yaml").write_text(
        BASE + "subnets:\n  a: {network: main, cidr: 10.0.1.0/24, availability_zone: us-east-1a}\n"
    )
    assert cli.main(["validate", "base", "dev"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "· base: a shared base, checked as part of dev and prod"
    assert out[1:] == [
        "✗ environments/dev.yaml: 1 problem",
        "  environments/base.yaml:5:41: subnets.a.availability_zone: availability zone "
        "'us-east-1a' is not in region 'eu-west-1'",
        "✓ environments/prod.yaml: valid (2 resources, 2 waves)",
    ]


def test_an_unknown_environment_lists_only_environments(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["plan", "bsae"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: unknown environment 'bsae' (available in environments: dev, prod)"
    ]

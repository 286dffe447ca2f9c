"""The built wheel as a user installs it: LICENSE inside, ``--version``, and ``init`` working from site-packages.

The wheel is built from a copy of the source with the project venv's setuptools, installed with
``--no-deps`` into a scratch venv whose dependencies come from the project venv (a ``.pth`` line,
which adds the folder without running the editable install's hooks), and run as the ``socialcrm``
script that pip wrote, from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import socialcrm

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ("pyproject.toml", "README.md", "LICENSE", "socialcrm", "connectors", "classifiers")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALCRM_", "PYTHON"))}
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in PACKAGED:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(item, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("socialcrm-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def test_wheel_ships_the_mit_licence_and_the_starter_config(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licences = [n for n in names if n.endswith("/LICENSE") and ".dist-info/" in n]
        assert licences, "LICENSE missing from the wheel's metadata"
        assert archive.read(licences[0]).decode().startswith("MIT License")
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert "License-Expression: MIT" in metadata
        assert f"Version: {socialcrm.__version__}" in metadata
        assert "socialcrm/starter_config.toml" in names


def test_wheel_ships_both_sentiment_adapter_sets_with_their_licences(wheel: Path) -> None:
    """The default classifier loads offline from package data: each set's weights and LICENSE.md are inside."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for licence in ("commercial", "research"):
            weights = f"classifiers/models/{licence}/sentiment.safetensors"
            assert weights in names
            assert archive.getinfo(weights).file_size == (ROOT / weights).stat().st_size
            assert f"classifiers/models/{licence}/LICENSE.md" in names
        assert "classifiers/models/e5-small/tokenizer.json.xz" in names


def test_installed_wheel_runs_version_and_init_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    script = installed / "bin" / "socialcrm"
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import socialcrm; print(socialcrm.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed), f"imported from {where}, not from the installed wheel"

    version = subprocess.run([str(script), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert version.returncode == 0
    assert version.stdout.strip() == f"socialcrm {socialcrm.__version__}"

    init = subprocess.run([str(script), "init"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "socialcrm.toml").read_text().startswith("# socialcrm configuration")
    assert (tmp_path / "socialcrm.db").stat().st_size > 0
    check = subprocess.run([str(script), "check-config"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stdout

    # A service install: the config in one folder, the database in the state folder.
    state = tmp_path / "var" / "lib" / "socialcrm"
    etc = tmp_path / "etc" / "socialcrm" / "socialcrm.toml"
    url = f"sqlite:///{state / 'socialcrm.db'}"
    service = subprocess.run(
        [str(script), "--config", str(etc), "init", "--database-url", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert service.returncode == 0, service.stderr
    assert f'url = "{url}"' in etc.read_text() and (state / "socialcrm.db").stat().st_size > 0
    again = subprocess.run(
        [str(script), "--config", str(etc), "init", "--database-url", "sqlite:///other.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and "applies to a new config only" in again.stderr

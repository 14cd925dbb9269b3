"""The wheel as a DBA installs it: built from this checkout, installed into a
fresh virtual environment, run from another folder against a real server.
Nothing of the checkout is on the path: the command deploys the SQL files
shipped inside the package."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketdb import __version__
from ticketdb.sources import REPEATABLE_DIRS, ROOT, all_files

FILES = all_files()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of the checkout, as `pip install .` builds it (the build
    backend pinned in pyproject.toml, in pip's isolated build environment)."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--wheel-dir", str(out), str(ROOT)],
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("ticketdb-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only the wheel and its runtime dependencies; returns its bin/."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    bin_dir = home / "bin"
    done = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                           str(wheel)], capture_output=True, text=True, check=False,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    yield bin_dir


def ticketdb(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed command, run from `cwd`, with an environment that holds
    nothing of the checkout (no PYTHONPATH)."""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([str(bin_dir / "ticketdb"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def test_the_wheel_carries_every_sql_file_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"ticketdb/{f.path}" for f in FILES} <= names
    assert "ticketdb/.sqlfluff" in names
    assert not any(n.startswith(("sql/", "tests/", "bench/", *(f"{d}/" for d in REPEATABLE_DIRS)))
                   for n in names), sorted(names)


def test_the_wheel_needs_only_what_deploying_needs(wheel):
    metadata = zipfile.ZipFile(wheel).read(
        f"ticketdb-{__version__}.dist-info/METADATA").decode()
    required = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split("==")[0] for r in required) == ["click", "pymysql[rsa]", "rich"]
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines()
              if line.startswith("Provides-Extra:")}
    assert extras == {"lint", "sandbox", "cache", "test", "dev"}


def test_the_installed_command_deploys_the_shipped_files_from_another_folder(
        installed, empty_db, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = empty_db.url()

    version = ticketdb(installed, elsewhere, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"ticketdb {__version__} ")
    shipped = version.stdout.split("SQL files: ", 1)[1].strip().rstrip(")")
    assert "site-packages" in shipped and not shipped.startswith(str(ROOT) + "/sql")

    up = ticketdb(installed, elsewhere, "--url", url, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"done: {len(FILES)} file(s) applied" in up.stdout

    status = ticketdb(installed, elsewhere, "status", "--json", "--url", url)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["up_to_date"] is True
    assert [f["file"] for f in data["files"]] == [f.path for f in FILES]

    check = ticketdb(installed, elsewhere, "--url", url, "verify")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no drift" in check.stdout

    as_module = subprocess.run([str(installed / "python"), "-m", "ticketdb", "--url", url, "up"],
                               cwd=elsewhere, capture_output=True, text=True, check=False,
                               env={"PATH": f"{installed}:/usr/bin:/bin"}, timeout=300)
    assert as_module.returncode == 0, as_module.stderr
    assert "nothing to do" in as_module.stdout


def test_the_installed_command_deploys_a_source_dir(installed, empty_db, source, tmp_path):
    (source / "sql" / "V900__local_table.sql").write_text(
        "CREATE TABLE local_notes (note_id INT PRIMARY KEY) ENGINE = InnoDB "
        "DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;\n")
    result = ticketdb(installed, tmp_path, "--url", empty_db.url(), "--source-dir", str(source),
                      "up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "applied sql/V900__local_table.sql" in result.stdout
    assert f"done: {len(FILES) + 1} file(s) applied" in result.stdout


def test_lint_and_sandbox_name_the_extra_they_need(installed, tmp_path):
    lint = ticketdb(installed, tmp_path, "lint")
    assert lint.returncode == 2
    assert "lint needs sqlfluff" in lint.stderr and "pip install 'ticketdb[lint]'" in lint.stderr
    sandbox = ticketdb(installed, tmp_path, "sandbox")
    assert sandbox.returncode == 2
    assert "sandbox needs mirakuru, testcontainers, docker" in sandbox.stderr
    assert "pip install 'ticketdb[sandbox]'" in sandbox.stderr

"""`fieldcast create-admin` never takes the password as an argument (issue 20, item 5): it reads
it from a file or an environment variable named on the command line, or asks at a terminal
without echo, and refuses to read it from a pipe."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import argon2
import pytest

from tests.conftest import TEST_SECRET

PASSWORD = "correct horse battery staple 7"


def _fieldcast(
    data_dir: Path, *args: str, extra_env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIELDCAST_DATA_DIR": str(data_dir), "FIELDCAST_SECRET_KEY": TEST_SECRET,
           "FIELDCAST_DATABASE_URL": "", "FIELDCAST_REDIS_URL": "", **(extra_env or {})}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "fieldcast", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _hash_of(data_dir: Path, email: str) -> str:
    with sqlite3.connect(data_dir / "fieldcast.sqlite3") as db:
        row = db.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()
    assert row is not None, f"no account {email}"
    return str(row[0])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("create-admin")
    done = _fieldcast(path, "migrate")
    assert done.returncode == 0, done.stderr
    return path


def test_password_from_a_file_or_an_environment_variable(data_dir: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")
    done = _fieldcast(data_dir, "create-admin", "root@example.org", "--password-file", str(secret_file))
    assert done.returncode == 0, done.stderr
    assert "created platform administrator root@example.org" in done.stdout
    argon2.PasswordHasher().verify(_hash_of(data_dir, "root@example.org"), PASSWORD)

    done = _fieldcast(
        data_dir, "create-admin", "env@example.org", "--password-env", "ADMIN_PW", extra_env={"ADMIN_PW": PASSWORD}
    )
    assert done.returncode == 0, done.stderr
    argon2.PasswordHasher().verify(_hash_of(data_dir, "env@example.org"), PASSWORD)
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--password", PASSWORD], "", "No such option"),
        ([], PASSWORD + "\n", "no terminal to ask for the password on"),
        (["--password-env", "NOT_SET_ANYWHERE"], "", "NOT_SET_ANYWHERE is not set"),
        (["--password-file", "/nonexistent/pw"], "", "cannot read /nonexistent/pw"),
    ],
)
def test_no_password_from_argv_or_a_pipe(data_dir: Path, args: list[str], stdin: str, message: str) -> None:
    done = _fieldcast(data_dir, "create-admin", "nobody@example.org", *args, stdin=stdin)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr
    with sqlite3.connect(data_dir / "fieldcast.sqlite3") as db:
        assert db.execute("SELECT 1 FROM users WHERE email = 'nobody@example.org'").fetchone() is None

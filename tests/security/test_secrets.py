"""Secrets come only from the environment; the security rules of ruff (S) stay clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigurationError, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL"])
def test_production_refuses_to_start_without_its_secrets(monkeypatch, missing):
    monkeypatch.setattr(config.ProductionConfig, "SECRET_KEY", config.ProductionConfig.SECRET_KEY)
    monkeypatch.setattr(
        config.ProductionConfig, "SQLALCHEMY_DATABASE_URI", config.ProductionConfig.SQLALCHEMY_DATABASE_URI
    )
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/leistungsboerse")
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigurationError, match=missing):
        load_config("production")


LOOKS_LIKE_A_SECRET = re.compile(
    r"(sk_live_[0-9A-Za-z]{10,}|rk_live_[0-9A-Za-z]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|"
    r"AKIA[0-9A-Z]{16}|xox[baprs]-[0-9A-Za-z-]{10,}|ghp_[0-9A-Za-z]{30,})"
)


def test_no_live_credentials_in_the_repository():
    found = []
    for folder in ("marketplace", "config.py", "wsgi.py", "bench", "docs", "templates", ".ci"):
        base = ROOT / folder
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()] if base.exists() else []
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            found += [f"{path.relative_to(ROOT)}: {m.group(0)[:12]}…" for m in LOOKS_LIKE_A_SECRET.finditer(text)]
    assert not found, found


def test_ruff_security_rules_are_selected_and_clean():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'select = \[[^\]]*"S"', pyproject)
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--select", "S", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

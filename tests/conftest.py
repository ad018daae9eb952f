"""Shared fixtures: a small artifact set built once per session by the real precompute pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.contract.config import BuildConfig
from tests.samples import SAMPLES, SMALL_CONFIG, sample_model


@pytest.fixture(autouse=True)
def validate_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages drawn by the tests check each chart against the Vega-Lite schema (serving skips it: dashboard.ui)."""
    from dashboard import ui

    monkeypatch.setattr(ui, "VALIDATE_CHARTS", True)


@pytest.fixture(scope="session", autouse=True)
def no_freedict(tmp_path_factory: pytest.TempPathFactory):
    """Builds in the tests read no FreeDict dictionary, whatever this machine has installed: their
    concepts are CLDR's alone (tests/test_freedict.py builds its own dictionary)."""
    from precompute.analyses import freedict
    from precompute.contract import schema

    with pytest.MonkeyPatch.context() as patch:  # the environment: Ray's workers read it too
        patch.setenv(freedict.DICTD_ENV, str(tmp_path_factory.mktemp("no-dictd")))
        patch.setenv(schema.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))  # not the user's cache
        yield


@pytest.fixture(scope="session")
def small_config() -> BuildConfig:
    return SMALL_CONFIG


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact directory with two real model samples and their comparison ("default")."""
    from precompute.build.pipeline import build_comparison, build_model
    from precompute.sources import load_model

    root = tmp_path_factory.mktemp("artifacts")
    for builtin, name in SAMPLES.items():
        report = build_model(sample_model(load_model(builtin), name), root, SMALL_CONFIG, slug=name, progress=False)
        assert report.ok, report.failed
    report = build_comparison(list(SAMPLES.values()), root, SMALL_CONFIG, name="default", progress=False)
    assert report.ok, report.failed
    return root

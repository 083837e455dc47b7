"""Skip reasons recorded by the benchmarks, since asv keeps none."""

import json

import pytest

from benchmarks.support import pyhf_compat, skips


class Base(skips.RecordsSkips):
    def setup(self, backend, *params):  # as BackendBenchmark.setup, called with fewer
        if backend == "pytorch":
            raise pyhf_compat.RemovedFromPyhf("pyhf removed the pytorch backend (PR #2611)")


class Child(Base):
    def setup(self, backend, n_bins):
        super().setup(backend)
        if n_bins > 10:
            raise NotImplementedError("too large here")


class Cached(skips.RecordsSkips):
    def setup_cache(self):
        return {"big": "cache"}

    def setup(self, cache, backend):
        raise NotImplementedError("not measured by setup_cache")


def lines(folder):
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl"))
            for line in path.read_text().splitlines()]


@pytest.fixture
def skip_log(tmp_path, monkeypatch):
    monkeypatch.setenv(skips.SKIP_LOG_ENV, str(tmp_path))
    monkeypatch.setenv("ASV_COMMIT", "c30e33761234567890")
    monkeypatch.setenv("ASV_ENV_NAME", "virtualenv-py3.11-numpy")
    return tmp_path


def test_a_skip_is_recorded_once_with_its_kind_and_reason(skip_log):
    with pytest.raises(NotImplementedError):
        Child().setup("pytorch", 1)
    with pytest.raises(NotImplementedError):
        Child().setup("numpy", 50)
    Child().setup("numpy", 1)
    (path,) = skip_log.glob("*.jsonl")
    assert path.name == "c30e3376-virtualenv-py3.11-numpy.jsonl"
    assert lines(skip_log) == [
        {"commit": "c30e33761234567890", "env_name": "virtualenv-py3.11-numpy",
         "benchmark_class": "test_skips.Child", "params": ["'pytorch'", "1"], "kind": "removed",
         "reason": "pyhf removed the pytorch backend (PR #2611)"},
        {"commit": "c30e33761234567890", "env_name": "virtualenv-py3.11-numpy",
         "benchmark_class": "test_skips.Child", "params": ["'numpy'", "50"],
         "kind": "unavailable", "reason": "too large here"},
    ]


def test_the_setup_cache_value_is_not_recorded_as_a_parameter(skip_log):
    with pytest.raises(NotImplementedError):
        Cached().setup({"big": "cache"}, "jax")
    assert lines(skip_log)[0]["params"] == ["'jax'"]


def test_a_skip_from_a_benchmark_body_is_asvs_na_and_is_recorded(skip_log, capsys):
    from asv_runner.benchmarks.mark import SkipNotImplemented

    with pytest.raises(SkipNotImplemented, match="1 by construction"):
        skips.skip("1 by construction for one worker", Cached(), ("dask", 1))
    assert lines(skip_log)[0]["benchmark_class"] == "test_skips.Cached"
    assert lines(skip_log)[0]["params"] == ["'dask'", "1"]
    assert lines(skip_log)[0]["reason"] == "1 by construction for one worker"
    assert "asv: skipped: 1 by construction" in capsys.readouterr().out


def test_the_suites_body_skips_record_their_reasons(skip_log):
    pytest.importorskip("pyhf")
    from benchmarks.bench_interpolation import Interpolation

    bench = Interpolation()
    with pytest.raises(NotImplementedError):  # SkipNotImplemented is one
        bench.track_largest_difference_to_reference("numpy", "cpu", "0", "large")
    (line,) = lines(skip_log)
    assert line["benchmark_class"] == "bench_interpolation.Interpolation"
    assert line["params"] == ["'numpy'", "'cpu'", "'0'", "'large'"]
    assert "too slow at size large" in line["reason"]


def test_nothing_is_written_without_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(skips.SKIP_LOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotImplementedError):
        Child().setup("pytorch", 1)
    assert not list(tmp_path.rglob("*.jsonl"))


def test_every_benchmark_class_of_the_suite_records_its_skips():
    import importlib
    import inspect
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    for path in sorted(root.glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "setup"):
                assert getattr(cls.setup, "_records_skips", False), f"{path.stem}.{name}"


def test_a_skip_raised_by_the_parent_setup_is_recorded_with_all_parameters(skip_log):
    with pytest.raises(NotImplementedError):
        Child().setup("pytorch", 10)
    (line,) = lines(skip_log)
    assert line["params"] == ["'pytorch'", "10"] and line["kind"] == "removed"

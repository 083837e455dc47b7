"""The report on the results of a real, reduced ``asv run`` (pyhf main's tip from its real history, numpy preset).

numpy on the CPU is measured over bins, batch sizes and two interpolation
codes; numpy on the GPU and jax are selected too and skipped (no GPU; jax
is not in the numpy preset); everything else in the suite was not run. The
report must show the times and CLs values, the scaling plots, and say what
is missing and why.
"""

import struct
import subprocess
import sys

import pytest

from helpers.report_shared import REPO_ROOT, real_results

pytestmark = pytest.mark.slow

TIME = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"
TRACK = "bench_baseline.HypotestUncorrelatedBackground.track_cls_obs"
BATCHED = "bench_model.BatchedLogpdf.time_batched_logpdf"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run = real_results(tmp_path_factory)
    out = run.work / "report-cli"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "report"), "--config", str(run.config),
         "--output", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return run, out, result.stdout


def test_the_run_measured_and_skipped_what_was_selected(built):
    run, _, _ = built
    assert "jax backend needs jax, jaxlib, not installed" in run.run_log
    print(f"reduced asv run: {run.run_seconds:.0f} s")


def test_cli_says_where_and_counts(built):
    run, out, stdout = built
    assert f"report-test: commit {run.commit[:8]}: 10 measured" in stdout
    assert f"Report: {out / 'index.html'}" in stdout
    assert f"Markdown: {out / 'report.md'}" in stdout


def test_tables_of_times_cls_and_what_is_missing(built):
    run, out, _ = built
    markdown = (out / "report.md").read_text()
    page = (out / "index.html").read_text()
    assert f"Commit `{run.commit[:12]}`" in markdown
    section = markdown.split(f"#### {TIME}")[1].split("####")[0]
    for n_bins in (1, 10, 50):
        row = next(line for line in section.splitlines() if line.startswith(f"| n_bins={n_bins} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1].endswith(("ms", "s")) and cells[1][0].isdigit(), row
    assert "| n_bins=100 | n/a |" in section  # not selected
    assert "No measurement on numpy/gpu, jax/cpu" in section
    cls_rows = markdown.split(f"#### {TRACK}")[1].split("###")[0]
    value = float(cls_rows.split("| n_bins=10 |")[1].split("CLs")[0])
    assert 0 < value < 1
    assert "| numpy/gpu | 0 |" in markdown and "NumPy runs on the CPU only" in markdown
    assert "jax is not in this environment's requirements (jax, jaxlib missing)" in markdown
    assert "No backend was measured on both CPU and GPU" in markdown
    assert "bench_fit.MaximumLikelihoodFit.time_unconditional_fit" in markdown  # not run
    assert "No failures." in markdown
    assert "No utilization results at this commit" in markdown
    assert f'<a href="../index.html#{TIME}">{TIME}</a>' in page


def test_images_are_real_plots(built):
    _, out, _ = built
    img = out / "img" / "report-test"
    expected = [f"compare-{TIME}", f"compare-{BATCHED}",
                "compare-bench_interpolation.Interpolation.time_tensorized",
                f"scaling-{TIME}-n_bins", f"scaling-{BATCHED}-batch_size"]
    page = (out / "index.html").read_text()
    for stem in expected:
        png = (img / f"{stem}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 400 and height >= 250 and len(png) > 10_000, stem
        assert (img / f"{stem}.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
        assert f'src="img/report-test/{stem}.png"' in page
    assert "batch size (parameter points per call)" in (img / f"scaling-{BATCHED}-batch_size.svg").read_text()

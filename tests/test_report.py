"""The backend comparison report on results written through asv's own API.

Fast: the results files are made with ``asv.results.Results`` for a GPU host
with numpy, jax and pytorch (one failure, skips, a disagreeing CLs), a
machine whose every benchmark failed, and one without results files; the
report's tables, highlights, reasons for what is missing and images are
checked. The report on a real ``asv run`` is in test_report_e2e.py.
"""

import itertools
import math
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pyhfbench import report, report_data
from helpers.report_results import (BACKENDS, NAN, NEW, OLD, PEAK, SCAN, SPECS, TIME, TRACK, UTIL,
                                    write_results)


def gpu_host_values():
    times = {}
    for n in (1, 10, 100):
        times[("numpy", "cpu", n)] = 0.01 * n
        times[("jax", "cpu", n)] = 0.005 * n
        times[("jax", "gpu", n)] = 0.001 * n
        times[("pytorch", "cpu", n)] = 0.02 * n
        times[("pytorch", "gpu", n)] = 0.004 * n
    times[("pytorch", "cpu", 100)] = None  # failed
    cls = {("numpy", "cpu", 1): 0.05, ("jax", "cpu", 1): 0.05, ("jax", "gpu", 1): 0.0500001,
           ("pytorch", "cpu", 1): 0.06, ("numpy", "cpu", 10): 0.001, ("jax", "cpu", 10): 0.001}
    peak = {("numpy", "cpu", "staus"): 200 * 2**20, ("jax", "cpu", "staus"): 400 * 2**20}
    util = {("numpy", "cpu", "scipy"): 99.5}
    scan = {("serial", 1): 2.0, ("processes", 1): 1.9, ("processes", 2): 3.7,
            ("processes", 4): 6.8}
    return {TIME: times, TRACK: cls, PEAK: peak, UTIL: util, SCAN: scan}


@pytest.fixture
def results(tmp_path):
    results_dir = tmp_path / "results"
    reqs = {"numpy": "", "scipy": "", "jax[cuda12]": "", "torch": ""}
    write_results(results_dir, "gpu-host", NEW, 2_000_000_000_000, gpu_host_values(), SPECS, reqs)
    older = {TIME: {("numpy", "cpu", n): 0.02 * n for n in (1, 10, 100)}}
    write_results(results_dir, "gpu-host", OLD, 1_000_000_000_000, older, SPECS, reqs)
    # A commit that could not be built: every benchmark failed.
    write_results(results_dir, "broken-host", NEW, 2_000_000_000_000,
                  {TIME: {c: None for c in itertools.product(BACKENDS, ["cpu", "gpu"], [1, 10, 100])}},
                  SPECS)
    return results_dir


def png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_latest_commit_is_read_through_asv_and_merged(results):
    loaded = report.load_commit(results, "gpu-host")
    assert loaded.commit == NEW
    assert [c for c, _ in loaded.commits] == [NEW, OLD]
    bench = loaded.benchmarks[TIME]
    assert bench.kind == "time" and bench.unit == "seconds"
    assert bench.param_names == ["backend", "device", "n_bins"]
    assert bench.values[("jax", "gpu", "10")] == pytest.approx(0.01)
    assert bench.values[("pytorch", "cpu", "100")] is None
    assert math.isnan(bench.values[("numpy", "gpu", "10")])
    assert "bench_fit.MaximumLikelihoodFit.time_unconditional_fit" in loaded.not_run
    assert report.load_commit(results, "gpu-host", commit="bbbb").commit == OLD
    with pytest.raises(report.ReportError):
        report.load_commit(results, "gpu-host", commit="cccc")
    with pytest.raises(report.ReportError):
        report.load_commit(results, "no-such-host")


def test_speedups_and_disagreement():
    rows = {(("n_bins", "10"),): {("numpy", "cpu"): 0.1, ("jax", "gpu"): 0.01,
                                  ("pytorch", "cpu"): None, ("numpy", "gpu"): NAN}}
    ups = report_data.speedups(rows)
    assert ups[(("n_bins", "10"),)][("jax", "gpu")] == pytest.approx(10.0)
    assert ("pytorch", "cpu") not in ups[(("n_bins", "10"),)]
    relative, absolute, worst, ref = report_data.disagreement(
        {("numpy", "cpu"): 0.05, ("jax", "cpu"): 0.05, ("pytorch", "cpu"): 0.06})
    assert worst == ("pytorch", "cpu") and ref == ("numpy", "cpu")
    assert absolute == pytest.approx(0.01) and relative == pytest.approx(0.01 / 0.06)
    assert report_data.disagreement({("numpy", "cpu"): 0.05}) is None


def test_report_tables_plots_and_what_is_missing(results, tmp_path):
    out = tmp_path / "html" / "report"
    built = report.build_report(results, out, machine="gpu-host")
    page = built["index"].read_text()
    markdown = built["markdown"].read_text()
    assert built["machines"]["gpu-host"]["commit"] == NEW
    assert built["machines"]["gpu-host"]["failed"] == 1

    # Time per backend/device with the speedup relative to numpy/cpu.
    assert "<h4>" + TIME + "</h4>" in page
    assert "10 ms (10×)" in page  # jax/gpu at 10 bins: 0.1 s / 0.01 s
    assert "| n_bins=10 | 100 ms (1×) | 50 ms (2×) | 10 ms (10×) | 200 ms (0.5×) | 40 ms (2.5×) |" \
        in markdown
    # GPU versus CPU per backend.
    assert "| " + TIME + " | n_bins=10 | jax | 50 ms | 10 ms | 5× |" in markdown
    assert "| " + TIME + " | n_bins=10 | pytorch | 200 ms | 40 ms | 5× |" in markdown
    # What is missing, and why.
    assert "| numpy/gpu | 0 | 7 | 0 | NumPy runs on the CPU only |" in markdown
    assert "tensorflow is not in this environment's requirements" in markdown
    assert f"`{TIME}` (backend=pytorch, device=cpu, n_bins=100)" in markdown
    assert "1 failed" in markdown
    assert "bench_fit.MaximumLikelihoodFit.time_unconditional_fit" in markdown
    # Tracked results: pytorch's CLs disagrees most, highlighted in both formats.
    assert '<td class="num worst">0.06 CLs</td>' in page
    assert "| n_bins=1 | 0.05 CLs | 0.05 CLs | 0.0500001 CLs | **0.06 CLs** |" in markdown
    assert f"| {TRACK} | n_bins=1 | pytorch/cpu vs numpy/cpu | **0.167** | 0.01 |" in markdown
    # Memory and utilization tables; utilization values kept out of the tracked results.
    assert "200 MiB" in markdown and "400 MiB" in markdown
    assert "| FitUtilization.track_cpu_percent | backend=numpy, device=cpu, optimizer=scipy " \
           "| 99.5 % of one core |" in markdown
    assert f"#### {UTIL}" not in markdown

    names = {p.name for p in built["figures"]}
    assert f"compare-{TIME}.png" in names
    assert f"scaling-{TIME}-n_bins.png" in names
    assert "gpu-vs-cpu.png" in names
    # A benchmark without backends (the pallet scan): throughput versus workers.
    assert f"scaling-{SCAN}-workers.png" in names
    assert f"| {SCAN} |  | no backend parameter |  |  |" in markdown
    assert f"scaling-{TRACK}-n_bins.png" not in names  # CLs versus bins is no scaling
    for png in built["figures"]:
        width, height = png_size(png)
        assert width >= 400 and height >= 200
        svg = png.with_suffix(".svg")
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        assert f'src="{png.relative_to(out).as_posix()}"' in page
        assert f"({png.relative_to(out).as_posix()})" in markdown
    svg_text = (out / "img" / "gpu-host" / f"scaling-{TIME}-n_bins.svg").read_text()
    assert "number of bins" in svg_text and "time per call (s)" in svg_text


def test_a_machine_with_only_failures_and_one_without_files_still_get_a_report(results, tmp_path):
    (results / "empty-host").mkdir()
    (results / "empty-host" / "machine.json").write_text('{"machine": "empty-host", "version": 1}')
    built = report.build_report(results, tmp_path / "report")
    markdown = built["markdown"].read_text()
    assert set(built["machines"]) == {"gpu-host", "broken-host"}
    broken = built["machines"]["broken-host"]
    assert broken["measured"] == 0 and broken["failed"] == 24
    assert "## Machine broken-host" in markdown
    assert "## Machine empty-host" in markdown
    assert "machine 'empty-host' has no results files" in markdown
    assert built["errors"] == [f"machine 'empty-host' has no results files in {results}"]
    section = markdown.split("## Machine broken-host")[1].split("## Machine")[0]
    assert "No timing results at this commit." in section
    assert "24 failed" in section


def test_no_results_at_all(tmp_path, capsys):
    html_dir = tmp_path / "html"
    code = report.main(["--results-dir", str(tmp_path / "nothing"), "--html-dir", str(html_dir)])
    assert code == 1
    assert "No results" in (html_dir / "report" / "index.html").read_text()


def test_utilization_figures_and_profiles_are_picked_up(results, tmp_path):
    series = results / "gpu-host" / "utilization" / NEW / "fit-numpy-cpu-scipy"
    series.mkdir(parents=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [10, 90])
    fig.savefig(series / "CPU_Utilization.png")
    plt.close(fig)
    (series / "events.jsonl").write_text('{"event": "start"}\n')
    profile = results / "profiles" / NEW / f"{TIME}-numpy-cpu-10"
    profile.mkdir(parents=True)
    (profile / "summary.md").write_text("# Profile\n\nTotal profiled time 0.1 s in 10 calls.\n")
    (profile / "profile.txt").write_text("top\n")
    html_dir = tmp_path / "html"
    (html_dir / "utilization").mkdir(parents=True)
    (html_dir / "utilization" / "index.html").write_text("<html></html>")
    built = report.build_report(results, html_dir / "report", machine="gpu-host",
                                html_dir=html_dir)
    page = built["index"].read_text()
    copied = html_dir / "report" / "utilization" / "gpu-host" / NEW[:8] / \
        "fit-numpy-cpu-scipy" / "CPU_Utilization.png"
    assert copied.is_file()
    assert 'src="utilization/gpu-host/aaaaaaaa/fit-numpy-cpu-scipy/CPU_Utilization.png"' in page
    assert 'href="../utilization/index.html"' in page
    assert f"profiles/aaaaaaaa/{TIME}-numpy-cpu-10/summary.md" in page
    assert (html_dir / "report" / "profiles" / "aaaaaaaa" / f"{TIME}-numpy-cpu-10"
            / "summary.md").is_file()
    assert "Total profiled time 0.1 s" in page


def test_add_report_pages_links_once_and_cli_prints_where(results, tmp_path, capsys):
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (html_dir / "index.html").write_text("<html><head></head><body>asv</body></html>")
    index = report.add_report_pages(results, html_dir, machine="gpu-host")
    assert index == html_dir / "report" / "index.html"
    assert report.add_link(html_dir / "index.html")  # again: still one link
    asv_index = (html_dir / "index.html").read_text()
    assert asv_index.count(report.LINK_ID) == 1
    assert 'href="report/index.html"' in asv_index
    code = report.main(["--results-dir", str(results), "--html-dir", str(html_dir),
                        "--machine", "gpu-host", "--commit", OLD[:8]])
    out = capsys.readouterr().out
    assert code == 0
    assert f"gpu-host: commit {OLD[:8]}: 3 measured" in out
    assert f"Report: {html_dir / 'report' / 'index.html'}" in out

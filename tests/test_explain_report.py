"""regressions.md about slowdowns: the paragraph on top, the tables, the page on the dashboard."""

import re

from markdown_it import MarkdownIt

from pyhfbench import gate, nightly_cli, regressions_page

BASE, SLOW, TIP = "a" * 40, "b" * 40, "c" * 40
FUNCTION = "pyhf.tensor.numpy_backend.numpy_backend.poisson_logpdf"


def explanation():
    return {
        "clock": "cpu", "rounds": 5, "total_before": 0.050, "total_after": 0.090, "builds": 2,
        "seconds": 30.0,
        "functions": [
            {"key": ["pyhf", "tensor/numpy_backend.py", "numpy_backend.poisson_logpdf"],
             "function": FUNCTION, "pyhf": True, "path": "tensor/numpy_backend.py", "line": 438,
             "source": "src/pyhf/tensor/numpy_backend.py",
             "url": f"https://github.com/scikit-hep/pyhf/blob/{TIP}/src/pyhf/tensor/numpy_backend.py#L438",
             "self_before": 0.001, "self_after": 0.040, "incl_before": 0.002, "incl_after": 0.041,
             "calls_before": 400, "calls_after": 400, "most": None},
            {"key": ["package", "numpy"], "function": "numpy", "pyhf": False, "path": None,
             "line": None, "self_before": 0.010, "self_after": 0.011, "incl_before": 0.012,
             "incl_after": 0.013, "calls_before": 9, "calls_after": 9,
             "most": "numpy/core/fromnumeric.py:2100(sum)"},
        ],
        "chain": [{"function": "benchmarks (this suite)", "incl_before": 0.05, "incl_after": 0.09},
                  {"function": "pyhf.infer.hypotest", "incl_before": 0.049, "incl_after": 0.089},
                  {"function": FUNCTION, "incl_before": 0.002, "incl_after": 0.041}],
    }


def bisected():
    return {"first_bad": SLOW, "last_good": "d" * 40, "found": True, "range": 6, "bound": 5,
            "method": "instruction count (callgrind)", "criterion": "from 1,150,000",
            "subject": "numpy backend: extra | passes", "author": "A. Dev <a@example.org>",
            "date": "2026-12-01T10:00:00+00:00", "measured": 5, "builds": 3, "seconds": 120.0,
            "steps": [{"commit": "d" * 40, "bad": False, "shown": "1,000,100 instructions (+0.01%)"},
                      {"commit": SLOW, "bad": True, "shown": "1,300,000 instructions (+30.00%)"}]}


def report():
    slower = gate.Finding(
        kind="slower", commit=TIP, baseline_commit=BASE, label="t",
        benchmark="bench_baseline.HypotestUncorrelatedBackground.time_hypotest",
        params={"backend": "numpy", "device": "cpu", "n_bins": "10"},
        param_reprs=["'numpy'", "'cpu'", "10"], ratio=1.9, confirmation={"ratio": 1.8},
        explanation=explanation(), bisection=bisected())
    counted = gate.Finding(
        kind="more_instructions", commit=TIP, baseline_commit=BASE, label="i",
        benchmark="bench_instructions.BaselineInstructions.track_instructions",
        params={"backend": "numpy", "device": "cpu", "workload": "baseline hypotest 10 bins"},
        param_reprs=["'numpy'", "'cpu'", "'baseline hypotest 10 bins'"], ratio=1.3,
        explanation={"error": "PairedError: no asv environment"}, bisection=None)
    failing = gate.Finding(kind="newly_failing", commit=TIP, baseline_commit=BASE,
                           benchmark="bench_fit.MaximumLikelihoodFit.time_unconditional_fit",
                           params={"backend": "jax"})
    return gate.Report(machine="m", commits=[TIP], findings=[slower, counted, failing], info=[],
                       subjects={TIP: "docs: tip"})


def test_the_top_paragraph_has_one_sentence_per_finding():
    text = report().to_markdown()
    lines = text.splitlines()
    assert lines[0].startswith("# pyhf benchmarks on `m`: 3 findings")
    short = lines[2]
    assert short.startswith("**In short.** ")
    assert (f"[`bbbbbbbb`](https://github.com/scikit-hep/pyhf/commit/{SLOW}) "
            f"'numpy backend: extra | passes' made [`{FUNCTION}`]({explanation()['functions'][0]['url']}) "
            "1950 % more expensive; "
            "time_hypotest (numpy, cpu, 10) 80 % slower (bisected in 6 commits: 5 measured, "
            "3 builds, 2.0 min).") in short
    assert ("'docs: tip' made baseline hypotest 10 bins (numpy) 30.0 % more instructions "
            "(not explained: PairedError: no asv environment).") in short
    assert "'docs: tip': newly failing, `bench_fit.MaximumLikelihoodFit.time_unconditional_fit` (jax)." in short


def test_the_explanation_and_bisection_render_as_markdown_tables():
    text = report().to_markdown()
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<table>") == 5  # three findings' tables, the explanation, the bisection
    assert f'<a href="https://github.com/scikit-hep/pyhf/blob/{TIP}/src/pyhf/tensor/numpy_backend.py#L438">' in html
    assert f"<code>{FUNCTION}</code>" in html
    row = next(line for line in text.splitlines() if line.startswith(f"| `{FUNCTION}`"))
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
    assert cells[2:5] == ["1.00ms", "40.0ms", "+39.0ms"] and cells[7] == "+39.0ms (+1950 %)"
    assert "numpy (package; most in `numpy/core/fromnumeric.py:2100(sum)`)" in text
    assert ("Inclusive chain, from the benchmark down: `benchmarks (this suite)` 50.0ms → 90.0ms → "
            "`pyhf.infer.hypotest`") in text
    assert "**Bisected** (instruction count (callgrind), 6 commits in the range, at most 5" in text
    assert "'numpy backend: extra \\| passes' by `A. Dev <a@example.org>`" in text
    # No HTML in what the explanation adds (GitHub issues strip much of it)
    added = text.split("### Where the cost went")[1].split("## More instructions")[0]
    assert not re.search(r"<[a-z/]", added.replace("`A. Dev <a@example.org>`", ""))


def test_the_dashboard_page_links_each_slowdown_to_its_graph(tmp_path):
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (html_dir / "index.html").write_text("<html><body>asv</body></html>")
    page = regressions_page.add_regressions_page(report(), html_dir)
    text = page.read_text()
    assert 'id="finding-1"' in text
    assert ('href="../index.html#bench_baseline.HypotestUncorrelatedBackground.time_hypotest?'
            "machine=m&amp;p-backend=%27numpy%27&amp;p-device=%27cpu%27&amp;p-n_bins=10&amp;"
            'commits=aaaaaaaa-cccccccc"') in text
    assert regressions_page.LINK_ID in (html_dir / "index.html").read_text()
    # every finding of the page's tables links to its graph, not only the explained ones
    assert text.count('">graph</a>') == 3
    assert (html_dir / "regressions" / "regressions.md").is_file()
    assert "<script" not in regressions_page.render("'<script>alert(1)</script>' made ...")
    # Without a published dashboard, regressions.md itself has no dashboard links.
    assert "On the dashboard" not in report().to_markdown()


def test_nightly_switches_and_bound():
    args = nightly_cli.build_parser().parse_args([])
    assert args.explain and args.bisect and args.bisect_builds == 0 and args.explain_rounds == 5
    args = nightly_cli.build_parser().parse_args(["--no-explain", "--no-bisect", "--bisect-builds", "4"])
    assert not args.explain and not args.bisect and args.bisect_builds == 4


def test_nightly_explains_each_slowdown_and_a_failure_never_breaks_the_night(tmp_path, monkeypatch):
    from helpers.nightly_lab import make_nightly

    from pyhfbench import bisection, explain, paired

    run = make_nightly(tmp_path)
    built = report()
    slower, counted, failing = built.findings
    env = type("Env", (), {"name": "e"})()
    monkeypatch.setattr(paired, "first_environment", lambda f, configs: env)
    explained = []

    def explain_finding(f, env_, installs, mirror, commit_url, rounds):
        explained.append((f.kind, env_.name, rounds, commit_url))
        return explanation()

    def bisect_finding(f, env_, installs, mirror, rule, bound):
        raise RuntimeError("git broke")

    monkeypatch.setattr(explain, "explain_finding", explain_finding)
    monkeypatch.setattr(bisection, "bisect_finding", bisect_finding)
    run.explain(built, gate.Rules(), [], tmp_path / "scratch")
    assert explained == [("slower", "e", 5, built.commit_url),
                         ("more_instructions", "e", 5, built.commit_url)]  # largest ratio first
    assert slower.bisection == {"error": "RuntimeError: git broke"}
    assert failing.explanation is None  # not a slowdown
    assert "not bisected: RuntimeError: git broke" in built.to_markdown()

"""How many calls make one timed sample, and how many samples make a result.

asv's default sampling spends a fixed time budget on every combination (two
rounds of up to 10 s each), whatever the spread. Here each combination is
sized once per process, from a short pilot of the warm call it times:

* ``number`` (calls per sample): large enough that a sample lasts at least
  ``MIN_SAMPLE_SECONDS`` (shorter samples are dominated by timer and
  scheduler jitter) and that the pilot's spread, shrunk by averaging
  ``number`` calls (1 / sqrt(number)), is at most ``SPREAD_TARGET``;
  never more calls than fit in ``MAX_SAMPLE_SECONDS``;
* ``repeat`` (samples): ``PYHF_BENCH_SAMPLES`` (default 7, enough for a
  quartile spread), fewer (but at least ``MIN_SAMPLES``) where the samples
  would take more than ``SLOW_SECONDS`` together.

asv_runner 0.3.2 reruns ``setup`` before every timed call when ``number`` is
above 1 (asv#966), so ``setup`` must be cheap after its first call
(``BackendBenchmark.setup_once`` runs once per process). See docs/suite-cost.md.
"""

import math
import os
import statistics
import time

from . import settings

SPREAD_TARGET = 0.05
SAMPLES_ENV = settings.SAMPLES
DEFAULT_SAMPLES = settings.DEFAULT_SAMPLES
MIN_SAMPLES = settings.MIN_SAMPLES
MIN_SAMPLE_SECONDS = 0.02
MAX_SAMPLE_SECONDS = 0.25
#: Beyond this for all samples of a combination, take fewer samples (never under MIN_SAMPLES):
#: at 60 s the slowest fits (Minuit on staus, 4.5 s a call) cost 45 s per combination.
SLOW_SECONDS = 20.0
PILOT_CALLS = 7
PILOT_SECONDS = 0.3
#: Calls before the pilot, for this long. Without it the first samples of a microsecond
#: call were up to 2.4 times slower than the rest (interquartile spread up to 100 % in a
#: whole-suite run, docs/suite-cost.md); the likely cause, not measured: a process forked
#: by asv's forkserver pays a copy-on-write page fault at its first write to each page.
WARM_SECONDS = 0.2


def samples_wanted(environ=os.environ):
    return settings.samples_wanted(environ)


def relative_spread(values):
    """Interquartile range over median (0 for fewer than 4 values: no quartiles to speak of)."""
    if len(values) < 4:
        return 0.0
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (q3 - q1) / median if median > 0 else 0.0


def pilot(call, calls=PILOT_CALLS, seconds=PILOT_SECONDS, clock=time.perf_counter,
          warm_seconds=WARM_SECONDS):
    """Seconds of each of up to ``calls`` timed calls of ``call``, stopping after ``seconds``
    (at least one call), after calling it for ``warm_seconds``. The call that ends the
    warm-up is the first timed one, so a call slower than ``warm_seconds`` costs no extra call."""
    warm_until = clock() + warm_seconds
    while True:
        start = clock()
        call()
        took = clock() - start
        if clock() >= warm_until:
            break
    times, started = [took], start
    while len(times) < calls and clock() - started < seconds:
        start = clock()
        call()
        times.append(clock() - start)
    return times


def plan(call_times, samples=None):
    """(number, repeat) for asv from pilot call times; repeat is (min, max, max_time)."""
    samples = samples_wanted() if samples is None else samples
    per_call = max(statistics.median(call_times), 1e-9)
    spread = relative_spread(call_times)
    for_noise = math.ceil((spread / SPREAD_TARGET) ** 2) if spread > SPREAD_TARGET else 1
    for_duration = math.ceil(MIN_SAMPLE_SECONDS / per_call)
    most = max(1, math.floor(MAX_SAMPLE_SECONDS / per_call))
    number = max(1, min(max(for_noise, for_duration), most))
    sample_seconds = number * per_call
    if samples * sample_seconds > SLOW_SECONDS:
        samples = max(MIN_SAMPLES, math.floor(SLOW_SECONDS / sample_seconds))
    # min = max samples: asv's max_time then never cuts a result short.
    return number, (samples, samples, 0.0)

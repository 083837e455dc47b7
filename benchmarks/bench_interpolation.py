"""Histogram interpolation, tensorized versus pyhf's pure-Python reference.

Every interpolation code pyhf implements (0, 1, 2, 4, 4p), over problem
sizes, on each backend and device. The largest difference between the
tensorized implementation and the slow reference (``do_tensorized_calc=
False``) is tracked: pyhf PR #2668 fixed a bug of exactly that kind.
"""

import numpy as np

from .common import BackendBenchmark, quick, with_params
from .support import pyhf_compat, skips, tracks

#: (systematics, samples, bins, alpha values) per problem size.
PROBLEM_SIZES = {
    "small": (2, 2, 10, 5),
    "medium": (10, 5, 50, 10),
    "large": (100, 10, 500, 20),
}
#: The pure-Python reference takes minutes at "large".
REFERENCE_SIZES = ["small", "medium"]
CODES = [str(code) for code in pyhf_compat.INTERPOLATION_CODES]


def interpolation_problem(size, seed=0):
    """Deterministic histogram sets (down, nominal, up) and alphas, some beyond |alpha| = 1."""
    n_sys, n_samples, n_bins, n_alphas = PROBLEM_SIZES[size]
    rng = np.random.default_rng(seed)
    nominal = rng.uniform(10.0, 100.0, size=(n_sys, n_samples, n_bins))
    up = nominal * (1.0 + rng.uniform(0.01, 0.3, size=nominal.shape))
    down = nominal * (1.0 - rng.uniform(0.01, 0.3, size=nominal.shape))
    histogramssets = np.stack([down, nominal, up], axis=2)
    alphasets = rng.uniform(-2.0, 2.0, size=(n_sys, n_alphas))
    return histogramssets.tolist(), alphasets.tolist()


def interpolation_code(code):
    return int(code) if code.isdigit() else code


class Interpolation(BackendBenchmark):
    """The tensorized interpolators, per backend, device, code and problem size."""

    params, param_names = with_params(
        BackendBenchmark, ["code", "size"], [CODES, list(PROBLEM_SIZES)]
    )
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_once(self, backend, device, code, size):
        self.histogramssets, alphasets = interpolation_problem(size)
        self.alphasets = self.tensorlib.astensor(alphasets)
        self.interpolator = pyhf_compat.interpolator(interpolation_code(code))(
            self.histogramssets, subscribe=False
        )

    def warm_up(self):
        self.wait(self.interpolator(self.alphasets))

    def sample_call(self):
        self.wait(self.interpolator(self.alphasets))

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"], code=["0", "4p"], size=["medium"])
    def time_tensorized(self, *params):
        self.wait(self.interpolator(self.alphasets))

    @quick(backend=["numpy"], device=["cpu"], size=["medium"])
    @tracks.result("events")
    def track_largest_difference_to_reference(self, backend, device, code, size):
        if size not in REFERENCE_SIZES:
            skips.skip(f"the pure-Python reference is too slow at size {size}", self,
                       (backend, device, code, size))
        tensorized = self.tensorlib.to_numpy(self.interpolator(self.alphasets))
        reference = pyhf_compat.interpolator(interpolation_code(code), tensorized=False)(
            self.histogramssets, subscribe=False
        )(self.tensorlib.to_numpy(self.alphasets).tolist())
        return float(np.max(np.abs(tensorized - np.asarray(reference))))


class InterpolationReference(BackendBenchmark):
    """pyhf's pure-Python reference interpolators: the baseline the tensorized code beats."""

    params = [["numpy"], ["cpu"], CODES, REFERENCE_SIZES]
    param_names = Interpolation.param_names
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_once(self, backend, device, code, size):
        self.histogramssets, self.alphasets = interpolation_problem(size)
        self.reference = pyhf_compat.interpolator(interpolation_code(code), tensorized=False)(
            self.histogramssets, subscribe=False
        )

    def sample_call(self):
        self.reference(self.alphasets)

    def time_reference(self, *params):
        self.reference(self.alphasets)

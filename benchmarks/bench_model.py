"""Building models and evaluating the likelihood.

Building a model from a pallet's workspace and signal patch (time, and the
memory the build itself allocates, traced with tracemalloc), one ``logpdf`` at the suggested initial parameters, and batched
``logpdf`` over batch sizes and precisions: how well a device is used as
the batch grows is one of the seed studies of GPU utilization.
"""

import tracemalloc

from .common import SUITE_SIZE, BackendBenchmark, quick, with_params
from .support import pallets, pyhf_compat, tracks
from .support.backends import PRECISIONS

#: The generated pallet the batched evaluations run on.
BATCHED_LIKELIHOOD = "generated/medium"
BATCH_SIZES = [1, 10, 100, 1000]


class BuildModel(BackendBenchmark):
    """Workspace plus signal patch to a ``pyhf.Model`` with the published interpolation codes."""

    params, param_names = with_params(
        BackendBenchmark, ["likelihood"], [pallets.likelihoods(SUITE_SIZE)]
    )
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_once(self, backend, device, likelihood):
        # pyhf's Workspace.model copies the spec it patches: reusing the workspace is safe.
        self.workspace = pallets.load_workspace(likelihood)
        self.patch = pallets.load_patch(likelihood, pallets.signal_patch(likelihood))
        self.build()

    def build(self):
        return pyhf_compat.model_from_workspace(self.workspace, [self.patch])

    def sample_call(self):
        self.build()

    @quick(backend=["numpy"], device=["cpu"])
    def time_build_model(self, *params):
        self.build()

    # Not peakmem_: the process's peak RSS is set by the framework imports and the workspace
    # load in setup, so a growth of the build's own memory would hide under it.
    @tracks.measurement("bytes", better="lower", threshold=0.10, floor=1 << 20)
    def track_build_model_bytes(self, *params):
        """Peak bytes allocated (and traced by tracemalloc: Python and NumPy) while building."""
        tracemalloc.start()
        try:
            model = self.build()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del model
        return peak


class Logpdf(BackendBenchmark):
    """One evaluation of the full likelihood at the suggested initial parameters."""

    params, param_names = BuildModel.params, BuildModel.param_names
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup_once(self, backend, device, likelihood):
        self.model, data = pallets.load_model(likelihood, pallets.signal_patch(likelihood))
        self.data = self.tensorlib.astensor(data)
        self.pars = self.tensorlib.astensor(self.model.config.suggested_init())
        self.wait(self.model.logpdf(self.pars, self.data))

    def sample_call(self):
        self.wait(self.model.logpdf(self.pars, self.data))

    def time_logpdf(self, *params):
        self.wait(self.model.logpdf(self.pars, self.data))


class BatchedLogpdf(BackendBenchmark):
    """``logpdf`` of a batch of parameter points, by batch size and precision."""

    params, param_names = with_params(
        BackendBenchmark, ["precision", "batch_size"], [list(PRECISIONS), BATCH_SIZES]
    )
    version = "2"  # 2: prepared once per process, sampling sized by spread

    def setup(self, backend, device, precision, batch_size):
        self.precision = precision
        super().setup(backend, device, precision, batch_size)

    def setup_once(self, backend, device, precision, batch_size):
        self.model, data = pallets.load_model(
            BATCHED_LIKELIHOOD, pallets.signal_patch(BATCHED_LIKELIHOOD), batch_size=batch_size
        )
        self.data = self.tensorlib.astensor(data)
        self.pars = self.tensorlib.astensor([self.model.config.suggested_init()] * batch_size)
        self.wait(self.model.logpdf(self.pars, self.data))

    def sample_call(self):
        self.wait(self.model.logpdf(self.pars, self.data))

    @quick(backend=["numpy", "jax", "pytorch"], device=["cpu"], precision=["64b"], batch_size=[1, 1000])
    def time_batched_logpdf(self, *params):
        self.wait(self.model.logpdf(self.pars, self.data))

"""The environment of the processes that build and run benchmarked code: an allow-list.

asv hands its own environment on to every pip build and every benchmark, and the paired
workers, profiles and callgrind children run pyhf commits too: whatever the host's
environment holds (a CI token, a deploy URL with a password, a cloud key) would reach
each commit measured. So these processes get only what asv, pip, git, the frameworks
and the suite need, by name or by prefix, never ``os.environ`` whole. A variable a
benchmark needs that is not here must be added here, with why (docs/settings.md).
"""

import os

#: Single names: the shell's and the locale's, temporary folders, the virtual environment,
#: the C toolchain (asv builds, callgrind's client library), the dynamic linker (CUDA's
#: libraries on GPU hosts), CA bundles and proxies (pip and git reach the package index).
NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LANG", "LANGUAGE",
    "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "PKG_CONFIG_PATH",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SOURCE_DATE_EPOCH", "CI",
})

#: Prefixes: the project's own settings (benchmarks/support/settings.py), asv's, Python's,
#: pip's and virtualenv's configuration, pyenv and conda, the XDG folders (the suite's
#: cache), and the numerical libraries' and GPU frameworks' knobs.
PREFIXES = (
    "PYHF_BENCH_", "ASV_", "PYTHON", "PIP_", "VIRTUALENV_", "PYENV_", "CONDA_", "MAMBA_",
    "LC_", "XDG_", "XLA_", "JAX_", "CUDA_", "NVIDIA_", "CUDNN_", "CUBLAS_", "NCCL_",
    "TF_", "TORCH_", "OMP_", "OPENBLAS_", "MKL_", "BLIS_", "GOTO_", "NUMBA_", "MPLCONFIGDIR",
)


def allowed(name):
    """Whether the variable ``name`` may reach benchmarked code."""
    return name in NAMES or name.startswith(PREFIXES)


def child_environ(extra=None, environ=None):
    """``environ`` (default ``os.environ``) cut to the allow-list, then ``extra`` on top
    (what the caller sets on purpose is kept whatever its name)."""
    source = os.environ if environ is None else environ
    env = {name: value for name, value in source.items() if allowed(name)}
    env.update(extra or {})
    return env


def left_out(environ=None):
    """The names ``child_environ`` drops from ``environ``, sorted (for the log: names only)."""
    source = os.environ if environ is None else environ
    return sorted(name for name in source if not allowed(name))

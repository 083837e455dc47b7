"""Generated likelihoods: realistic HistFactory workspaces of any size, and synthetic signals.

``workspace(...)`` builds a background-only workspace the way analyses are built:
control regions (``CR_*``) that each constrain the normalisation of one
background, signal regions (``SR_*``), several background samples and a
data-driven ``fakes`` estimate, with normsys and histosys systematics correlated
across channels, a ``staterror`` per channel, a ``shapesys`` on the fakes and a
``lumi`` on every simulated sample. Its measurement declares the POI
``mu_SIG`` on no sample, like the published background-only workspaces, so a
signal patch is needed for a hypothesis test.

``signal_patches(spec, ...)`` makes JSON Patches that add a signal sample
(normfactor ``mu_SIG``) to the signal regions of any background-only workspace:
the generated ones, and the published ones whose patchsets are not at hand.
These are *synthetic signals*; results on them must be labelled as such.

Everything is deterministic: the same arguments give the same JSON, byte for
byte (only Python's ``random.Random`` and arithmetic are used, and numbers are
rounded), so ``pyhf.utils.digest`` of a generated workspace is stable and is
recorded in the registry.
"""

import math
import random

#: Names of the simulated backgrounds, in the order samples are added.
BACKGROUNDS = ("ttbar", "wjets", "zjets", "diboson", "singletop", "ttV", "higgs", "multijet")

#: Name of the sample the synthetic signal patches add.
SIGNAL_SAMPLE = "synthetic_signal"

#: Prefix of every synthetic patch name, so that a label can always be derived.
SYNTHETIC_PREFIX = "synthetic_"


def _round(value, digits=6):
    """Round to ``digits`` significant digits so that the JSON is platform independent."""
    return float(f"{value:.{digits}g}")


def _poisson(rng, mean):
    """A Poisson draw from ``random.Random`` (inversion below 30, normal approximation above)."""
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def sample_names(samples):
    """The background sample names of a workspace with ``samples`` samples (the last is fakes)."""
    if samples < 1:
        raise ValueError(f"a workspace needs at least one sample, got {samples}")
    simulated = [
        BACKGROUNDS[i] if i < len(BACKGROUNDS) else f"bkg{i}" for i in range(samples - 1)
    ]
    return simulated + ["fakes"] if samples > 1 else simulated or ["ttbar"]


def channel_names(channels, samples):
    """Control regions first (one per normalised background), then signal regions."""
    if channels < 1:
        raise ValueError(f"a workspace needs at least one channel, got {channels}")
    n_cr = min(channels // 2, max(samples - 1, 0))
    simulated = sample_names(samples)[:n_cr]
    return [f"CR_{name}" for name in simulated] + [f"SR_{i}" for i in range(channels - n_cr)]


def workspace(channels=2, bins=3, samples=3, normsys=4, histosys=2, seed=0):
    """A background-only workspace spec (a dict) of ``channels`` x ``bins`` bins.

    Parameters: ``normsys`` normalisation and ``histosys`` shape systematics
    shared by all channels, one ``mu_<sample>`` per control region, ``lumi``,
    and per bin one staterror and one shapesys (fakes) parameter, so a model
    has about ``2 * channels * bins + normsys + histosys`` parameters.
    """
    if bins < 1:
        raise ValueError(f"a channel needs at least one bin, got {bins}")
    rng = random.Random(seed)
    names = sample_names(samples)
    simulated = [name for name in names if name != "fakes"]
    regions = channel_names(channels, samples)
    normalised = [name[3:] for name in regions if name.startswith("CR_")]

    # Which simulated samples each systematic affects (at least one each), and how much.
    def affected():
        if not simulated:
            return []
        chosen = [name for name in simulated if rng.random() < 0.5]
        return chosen or [rng.choice(simulated)]

    norm_systs = [(f"syst_norm_{k}", affected(), rng.uniform(0.01, 0.15)) for k in range(normsys)]
    shape_systs = [(f"syst_shape_{k}", affected(), rng.uniform(0.02, 0.2), rng.uniform(-1, 1))
                   for k in range(histosys)]
    scale = {name: rng.uniform(20.0, 200.0) for name in names}
    slope = {name: rng.uniform(0.5, 3.0) for name in names}

    spec_channels, observations = [], []
    for region in regions:
        enriched = region[3:] if region.startswith("CR_") else None
        channel_samples, totals = [], [0.0] * bins
        for name in names:
            factor = 10.0 if name == enriched else (1.0 if enriched else 0.3)
            factor *= rng.uniform(0.5, 1.5)
            nominal = [
                _round(scale[name] * factor * math.exp(-slope[name] * b / bins) / math.sqrt(bins) + 0.01)
                for b in range(bins)
            ]
            totals = [t + n for t, n in zip(totals, nominal)]
            modifiers = []
            if name == "fakes":
                modifiers.append({"name": f"shapesys_fakes_{region}", "type": "shapesys",
                                  "data": [_round(0.3 * n) for n in nominal]})
            else:
                modifiers.append({"name": "lumi", "type": "lumi", "data": None})
                modifiers.append({"name": f"staterror_{region}", "type": "staterror",
                                  "data": [_round(n * rng.uniform(0.02, 0.1)) for n in nominal]})
                if name in normalised:
                    modifiers.append({"name": f"mu_{name}", "type": "normfactor", "data": None})
                for syst, targets, size in norm_systs:
                    if name in targets:
                        modifiers.append({"name": syst, "type": "normsys", "data": {
                            "hi": _round(1 + size), "lo": _round(1 - 0.9 * size)}})
                for syst, targets, size, tilt in shape_systs:
                    if name in targets:
                        # A linear distortion across the bins, up and down.
                        shift = [size * (0.5 + tilt * (2 * b / max(bins - 1, 1) - 1)) for b in range(bins)]
                        modifiers.append({"name": syst, "type": "histosys", "data": {
                            "hi_data": [_round(n * (1 + s)) for n, s in zip(nominal, shift)],
                            "lo_data": [_round(max(n * (1 - s), 1e-3)) for n, s in zip(nominal, shift)],
                        }})
            channel_samples.append({"name": name, "data": nominal, "modifiers": modifiers})
        spec_channels.append({"name": region, "samples": channel_samples})
        observations.append({"name": region, "data": [float(_poisson(rng, t)) for t in totals]})

    parameters = [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.017],
                   "bounds": [[0.915, 1.085]], "inits": [1.0]}] if simulated else []
    parameters += [{"name": f"mu_{name}", "bounds": [[0.0, 10.0]], "inits": [1.0]}
                   for name in normalised]
    return {
        "version": "1.0.0",
        "channels": spec_channels,
        "observations": observations,
        "measurements": [{"name": "NormalMeasurement",
                          "config": {"poi": "mu_SIG", "parameters": parameters}}],
    }


def is_synthetic_name(patch_name):
    """Whether a patch name is one of the synthetic signals made here."""
    return str(patch_name).startswith(SYNTHETIC_PREFIX)


def signal_patch_names(count):
    """Names of ``count`` synthetic signals, weakest first."""
    return [f"{SYNTHETIC_PREFIX}signal_{k}" for k in range(count)]


def signal_patches(spec, count=5, seed=0, poi=None):
    """``count`` synthetic signal patches for the background-only workspace ``spec``.

    Returns {name: JSON Patch (list of operations)}. Each adds a sample
    ``synthetic_signal`` with the normfactor ``poi`` (default: the first
    measurement's POI) to every signal region (channels whose name starts
    with "SR", or all channels if none does), with ``lumi``, the channel's
    ``staterror`` where it has them, and a 10% normsys. Signal ``k`` has
    about ``0.5 * 1.8**k`` times the square root of the background in each
    bin, so the set spans weak to clearly excluded hypotheses.
    """
    poi = poi or spec["measurements"][0]["config"]["poi"]
    indices = [i for i, c in enumerate(spec["channels"]) if c["name"].upper().startswith("SR")]
    indices = indices or list(range(len(spec["channels"])))
    patches = {}
    for k, name in enumerate(signal_patch_names(count)):
        rng = random.Random(f"{seed}/{k}")
        strength = 0.5 * 1.8**k
        operations = []
        for index in indices:
            channel = spec["channels"][index]
            nbins = len(channel["samples"][0]["data"])
            totals = [sum(s["data"][b] for s in channel["samples"]) for b in range(nbins)]
            peak = rng.randrange(nbins)
            data = [_round(strength * math.sqrt(max(t, 0.1)) * math.exp(-abs(b - peak) / 2.0) + 1e-3)
                    for b, t in enumerate(totals)]
            modifier_names = {(m["name"], m["type"]) for s in channel["samples"] for m in s["modifiers"]}
            modifiers = [{"name": poi, "type": "normfactor", "data": None},
                         {"name": "synthetic_signal_theory", "type": "normsys",
                          "data": {"hi": 1.1, "lo": 0.9}}]
            modifiers += [{"name": m, "type": "lumi", "data": None}
                          for m, t in sorted(modifier_names) if t == "lumi"]
            modifiers += [{"name": m, "type": "staterror", "data": [_round(0.05 * d) for d in data]}
                          for m, t in sorted(modifier_names) if t == "staterror"]
            operations.append({"op": "add", "path": f"/channels/{index}/samples/0",
                               "value": {"name": SIGNAL_SAMPLE, "data": data, "modifiers": modifiers}})
        patches[name] = operations
    return patches

"""eegdeploy: compress EEG classifiers for deployment (prune, recover, slim, export, benchmark, report).

    from eegdeploy import CompressConfig, compress, load_data, load_model, load_profile
    profile = load_profile("ccnn-deap")
    bundle = load_model("model.pt")                    # an eegdeploy checkpoint (eegdeploy train writes one)
    splits = load_data(None, profile, seed=0)          # the profile's synthetic EEG; or "my.npz", "deap:<folder>"
    result = compress(bundle, splits, CompressConfig(method="lfp", ratio=0.5, train=profile.train), "out/")

Importing the package imports nothing heavy: names load on first use, so ``eegdeploy.bench`` on a target device
needs only onnxruntime, numpy and rich.
"""

from __future__ import annotations

from eegdeploy._version import __version__
from eegdeploy.errors import EegDeployError
from eegdeploy.lazy import lazy_api

_API: dict[str, str] = {
    # pipeline
    "compress": "eegdeploy.pipeline", "CompressConfig": "eegdeploy.pipeline",
    # configuration and models
    "load_profile": "eegdeploy.config", "list_profiles": "eegdeploy.config", "TrainConfig": "eegdeploy.config",
    "InputSpec": "eegdeploy.config", "Profile": "eegdeploy.config",
    "load_model": "eegdeploy.models", "save_checkpoint": "eegdeploy.models", "build_model": "eegdeploy.models",
    "Bundle": "eegdeploy.models",
    # data
    "load_data": "eegdeploy.data", "Split": "eegdeploy.data", "Splits": "eegdeploy.data",
    # pruning
    "prune": "eegdeploy.prune", "slim": "eegdeploy.prune", "apply_masks": "eegdeploy.prune",
    "make_config": "eegdeploy.prune", "PrunePlan": "eegdeploy.prune", "METHODS": "eegdeploy.prune",
    "LFPConfig": "eegdeploy.prune", "SFPConfig": "eegdeploy.prune", "NSFPConfig": "eegdeploy.prune",
    "UWMPConfig": "eegdeploy.prune",
    # recovery
    "fit": "eegdeploy.recover", "evaluate": "eegdeploy.recover",
    # export and benchmarks
    "export_onnx": "eegdeploy.export", "ExportConfig": "eegdeploy.export",
    "benchmark_onnx": "eegdeploy.bench", "benchmark_torch": "eegdeploy.bench", "BenchConfig": "eegdeploy.bench",
    "count": "eegdeploy.bench",
    # results
    "CompressResult": "eegdeploy.report",
}

__all__ = ["EegDeployError", "__version__", *sorted(_API)]

__getattr__, __dir__ = lazy_api(__name__, _API)

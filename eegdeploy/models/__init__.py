"""The model zoo and checkpoints."""

from eegdeploy.models.bundle import Bundle, resolve_profile
from eegdeploy.models.checkpoint import bundle_from_profile, load_model, load_state_dict_checked, save_checkpoint
from eegdeploy.models.zoo import apply_maxnorm, build_model, check_input, import_torcheeg_cnn, sanitize_maxnorm

__all__ = [
    "Bundle",
    "apply_maxnorm",
    "build_model",
    "bundle_from_profile",
    "check_input",
    "import_torcheeg_cnn",
    "load_model",
    "load_state_dict_checked",
    "resolve_profile",
    "sanitize_maxnorm",
    "save_checkpoint",
]

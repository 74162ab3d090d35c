"""The model zoo and checkpoints."""

from eegdeploy.models.bundle import Bundle, check_prunable, resolve_profile
from eegdeploy.models.patch import PatchConv, patch_embedding_as_conv, patch_embedding_names
from eegdeploy.models.checkpoint import bundle_from_profile, load_model, load_state_dict_checked, save_checkpoint
from eegdeploy.models.zoo import (apply_maxnorm, bake_parametrizations, build_model, check_input, import_torcheeg,
                                  import_torcheeg_cnn, make_plain, sanitize_maxnorm, torcheeg_classes)

__all__ = [
    "Bundle",
    "PatchConv",
    "apply_maxnorm",
    "bake_parametrizations",
    "build_model",
    "check_prunable",
    "bundle_from_profile",
    "check_input",
    "import_torcheeg",
    "import_torcheeg_cnn",
    "load_model",
    "load_state_dict_checked",
    "make_plain",
    "patch_embedding_as_conv",
    "patch_embedding_names",
    "resolve_profile",
    "sanitize_maxnorm",
    "save_checkpoint",
    "torcheeg_classes",
]

"""Pruning: channel analysis, methods (lfp, sfp, nsfp, uwmp), plans, masking and physical slimming.

    from eegdeploy.prune import LFPConfig, prune, slim
    plan = prune(model, LFPConfig(ratio=0.5), example=x)
    small = slim(model, plan, x)        # dense, smaller; equal to apply_masks(copy(model), plan)
"""

from eegdeploy.prune.importance import BNScaleImportance, Importance, L1Importance, L2Importance, has_batchnorm
from eegdeploy.prune.lfp import LFP, LFPConfig
from eegdeploy.prune.nsfp import NSFP, NSFPConfig
from eegdeploy.prune.sfp import SFP, SFPConfig, SoftFilterPrune
from eegdeploy.prune.uwmp import UWMP, UWMPConfig, dead_channel_plan
from eegdeploy.prune.callbacks import BNSparsity, KeepMasks, KeepStructure
from eegdeploy.prune.methods import (METHODS, Method, MethodConfig, add_depth, make_config, method_analysis,
                                    n_remove, plan_from_scores, prune, register)
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.depth import DEPTH_PREFIX, Block, Branch, ZeroBranch, dropped_blocks
from eegdeploy.prune.surgery import (SLIM_TOLERANCE, apply_masks, check_slim, clear_masks, cut_layer, layer_masks, removed_units,
                                     slim, verify_slim)
from eegdeploy.prune.rules import ChannelRule, register_channel_rule
from eegdeploy.prune.trace import Analysis, ChannelGroup, analyse, channel_groups

__all__ = [
    "Block", "Branch", "DEPTH_PREFIX", "ZeroBranch", "add_depth", "dropped_blocks",
    "BNSparsity", "ChannelRule", "register_channel_rule", "KeepMasks", "KeepStructure", "NSFP", "NSFPConfig", "SFP", "SFPConfig", "SoftFilterPrune", "UWMP",
    "UWMPConfig", "dead_channel_plan",
    "LFP", "METHODS", "MethodConfig", "method_analysis", "SLIM_TOLERANCE", "Analysis", "BNScaleImportance", "ChannelGroup", "Importance",
    "L1Importance", "L2Importance", "LFPConfig", "check_slim", "cut_layer", "layer_masks", "Method", "PrunePlan", "analyse", "apply_masks", "channel_groups", "clear_masks",
    "has_batchnorm", "make_config", "n_remove", "plan_from_scores", "prune", "register", "removed_units", "slim",
    "verify_slim",
]

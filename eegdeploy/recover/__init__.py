"""Training and recovery: one loop with callbacks, fine-tune and scratch recovery."""

from eegdeploy.recover.loop import Callback, FitResult, evaluate, fit, predict

__all__ = ["Callback", "FitResult", "evaluate", "fit", "predict"]

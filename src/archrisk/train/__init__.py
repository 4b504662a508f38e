"""Training: recipes, the loop, evaluation and the checkpoint cache."""
from archrisk.train.checkpoint import load_weights
from archrisk.train.loop import (EpochLog, TrainResult, evaluate, fit, initial_model, predict, resolve_device,
                                 run_training, torch_threads, train_model)
from archrisk.train.recipe import RECIPES, SIZE_RECIPES, Recipe, get_recipe, resolve_recipe, train_epochs
from archrisk.train.request import TrainRequest, resolve_arch

__all__ = ["EpochLog", "RECIPES", "Recipe", "SIZE_RECIPES", "TrainRequest", "TrainResult", "evaluate", "fit",
           "get_recipe", "initial_model", "load_weights", "predict", "resolve_arch", "resolve_device", "resolve_recipe",
           "run_training", "torch_threads", "train_epochs", "train_model"]

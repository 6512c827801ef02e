"""corrviz finetuning: method plug-ins, one trainer, and the ``corrviz-train`` command.

``train(method, config=..., overrides=[...], resume=..., progress=...)`` runs a method plug-in
(:class:`~corrviz.training.method.Method`) through the one training loop
(:mod:`corrviz.training.trainer`). Methods: :func:`list_methods`.
"""

from .method import Method, StepOutput, TrainData, TrainModel, get_method, list_methods, register_method
from .trainer import TrainResult, load_trained, prepare, train

__all__ = ["Method", "StepOutput", "TrainData", "TrainModel", "TrainResult", "get_method", "list_methods",
           "load_trained", "prepare", "register_method", "train"]

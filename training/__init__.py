"""corrviz finetuning: method plug-ins, one trainer, and the ``corrviz-train`` command."""

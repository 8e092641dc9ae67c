"""The digit classifier, the network whose by-products drive the removal.

- ``nets``: the original experiment's nine architectures by name;
- ``weights``: loading and saving weights (safetensors, the original ``.pkl``), packaged ones;
- ``inference``: batched forward passes that leave the model as they found it;
- ``train``: training runs (``TrainConfig``, the loop, run folders, reports, plots);
- ``classify``: every digit of a split read into a CSV.
"""

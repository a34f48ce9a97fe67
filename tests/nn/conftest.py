"""torch is the reference here; one intra-op thread keeps its many tiny ops from spinning
a second core while visgrad runs."""

import torch

torch.set_num_threads(1)

"""Text helpers shared by operators: segmentation into reasoning units, gold perturbations."""

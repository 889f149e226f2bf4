"""Experiments: ensembles, counterfactual comparisons, sensitivity analysis (local or Dask)."""

"""The papermill notebook pipeline: the runner, notebook parameters, sweeps and the run report."""

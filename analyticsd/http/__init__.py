"""HTTP: the lean ingest listener and the Quart app for everything else."""

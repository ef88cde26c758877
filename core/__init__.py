"""What every deployable shares, and nothing else.

The data contract (telemetry fields, ranges, feature names, label columns), the data directory's
layout, the model bundle's on-disk format, where a bundle comes from (a path or the registry's
champion) and the registry adapter, and the inference log's segment format. The facade, the drift
sidecar, the training steps, the Function and the CLI import these from here; each image copies the
whole package. Nothing here imports Feast, Evidently or any other package of this repository.
"""

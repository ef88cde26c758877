"""``predmaint demo``: the whole local loop in one command.

Modules: :mod:`.config` (what to run), :mod:`.run` (one run from start to end), :mod:`.history`
(simulated history in the feature stores), :mod:`.training` (the pipeline, first champion and
retrain), :mod:`.services` and :mod:`.processes` (the facade and the drift sidecar as real
subprocesses), :mod:`.loop` (the live phase), :mod:`.alerting` (alert rule and retrain trigger),
:mod:`.clients` (HTTP), :mod:`.record` and :mod:`.timeline` (what happened), :mod:`.quality`
(alert precision, recall, lead time), :mod:`.outcome` (did the loop close, ``summary.json``),
:mod:`.report` and :mod:`.figures` (the HTML report and its plots), :mod:`.datadir` (a clean data
directory per run).
"""

"""Experiment protocols: one YAML file runs a whole comparison (``condet experiment``).

A protocol is a list of condet commands, each written as its options, run in order into one
folder, then summarised in one table (Markdown, CSV, JSON) and one self-contained
``report.html``. Every run is exactly what a user could type: the options are the command's
flags (its config's fields), the experiment builds the command's config from them and calls
its ``run`` (:mod:`condet.commands`), and the run folder holds the run's resolved config
(``config.yaml``), its numbers (``metrics.json``, whose headline the tables show), seed,
versions, commit, device and timings. ::

    name: ranked_contrastive
    data: runs/demo/data            # {data} below; condet experiment --data replaces it
    synthetic: {images: 300}        # or: generate the embedded synthetic set as {data}
    seeds: [0, 1, 2]                # runs with `seeds: true` repeat once per seed
    runs:
      - name: supcon
        command: ood
        seeds: true
        options: {data: "{data}", loss: supcon, withhold: [ring, pentagon]}
      - name: gradcam
        command: explain
        args: ["{data}"]
        options: {kind: encoder, model: ["supcon={run:supcon}"]}
    comparisons:                    # one sentence each in results.md and report.html
      - {runs: [supcon, ranked], metric: NCM top-1}
    smoke:                          # merged into a command's options under --smoke
      ood: {epochs: 1, max-steps: 2}
      synthetic: {images: 40}       # and into the synthetic set's settings

In option values, ``{data}`` is the data set, ``{seed}`` the run's seed, ``{run:NAME}`` the
folder of run NAME (of the same seed when NAME repeats per seed, else of the first seed),
``{out}`` the experiment
folder, and ``$VARIABLE`` an environment variable (e.g. ``$CONDET_SHARED_DATA``; one that is
not set is an error, and so is a protocol's data that does not exist, both before any run is
touched). Options
name the command's flags without ``--``; lists give several values (or repeat a flag that
repeats), ``true`` / ``false`` switch a flag on or off.

Started again, an experiment keeps what it can trust and redoes the rest. Each run leaves a
record (``RUN/.protocol-run.json``; ``.NAME.png.protocol-run.json`` beside an explain run's
picture) of its command, options, data, condet version and the runs it used. A finished run is
kept while that record is what the protocol asks for now; otherwise it is run again from the
start, and the log says why. A run interrupted half-way continues from its last checkpoint
(``--resume``) when it has one, so one killed experiment, started again, ends with the same
tables as one that never stopped.
"""

from __future__ import annotations

from condet.experiment.protocol import Run, load_protocol, plan_runs, select_runs
from condet.experiment.records import read_record, record_changes, record_path
from condet.experiment.tables import (
    command_table,
    comparison_sentences,
    format_value,
    markdown_tables,
    summary_rows,
)

# The runner (:func:`condet.experiment.runner.run_experiment`) is not imported here: it brings
# torch, and the command line imports this package to build its parser.
__all__ = [
    "Run",
    "command_table",
    "comparison_sentences",
    "format_value",
    "load_protocol",
    "markdown_tables",
    "plan_runs",
    "read_record",
    "record_changes",
    "record_path",
    "select_runs",
    "summary_rows",
]

"""The graphls benchmarks as a small package; ``benchmarks/run.py`` is its command line.

Modules, each one concept, in import order (a module imports only those above it):

- :mod:`~graphls_bench.checks`: input checks with the house error wording;
- :mod:`~graphls_bench.blocks`: what is benchmarked: the rows, a block (dataset × split ×
  model × noise) and its test runs (seeds or splits, dealt to shards);
- :mod:`~graphls_bench.settings`: ``configs/benchmark.toml`` and the flags, resolved;
- :mod:`~graphls_bench.plan`: the blocks of an invocation, and ``--plan``'s description;
- :mod:`~graphls_bench.records`: result lines, their files and the result cache;
- :mod:`~graphls_bench.archive`: study archives (``results/studies/*.jsonl``);
- :mod:`~graphls_bench.studies`: one Optuna study per tuned row (``graphls.tuning``);
- :mod:`~graphls_bench.testruns`: the test runs of a split, batched (``graphls.engine``);
- :mod:`~graphls_bench.figures`: landscapes and the reliability diagram;
- :mod:`~graphls_bench.stats`: mean ± std, and the verdicts (win, tie, loss);
- :mod:`~graphls_bench.references`: the published numbers beside our rows;
- :mod:`~graphls_bench.results_md`: RESULTS.md's generated section;
- :mod:`~graphls_bench.runner`: the run: blocks, figures, RESULTS.md.

The package uses graphls' public API only (``graphls.config``, ``graphls.engine``,
``graphls.tuning``, ``graphls.data``, ``graphls.report``, ``graphls.cli``).
"""

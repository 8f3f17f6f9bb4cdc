"""The ablation harness: configs, runs, statistics and the report (``babyworld ablate``, ``babyworld report``)."""

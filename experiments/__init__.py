"""Experiment entry points: the ``babyworld`` command line, demos and evaluations."""

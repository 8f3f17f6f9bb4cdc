"""Curricula over the ladder of levels (mapped into the package as ``babyworld.curricula``).

Nothing is exported yet: the curriculum protocol and its implementations are built on top of the
levels. The per-task success tracker behind the ``progress`` reward lives in
:mod:`babyworld.rewards.estimators` until then.
"""

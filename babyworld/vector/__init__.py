"""Vector envs, the trainer's door to the levels: N worlds stepped together.

- :mod:`babyworld.vector.local`: :class:`ParentBatchVectorEnv`, the native one (one batched parent
  call per phase for all N worlds), every level's ``gym.make_vec`` entry point;
- :mod:`babyworld.vector.distributed`: :class:`RayVectorEnv`, the same envs on Ray rollout workers
  (each one :class:`~babyworld.vector.shard.ShardWorker`, :mod:`babyworld.vector.shard`);
- :mod:`babyworld.vector.cluster`: connecting to a Ray cluster (also used by ``babyworld ablate --ray``);
- :func:`make_envs`: either, for a trainer.
"""

from babyworld.vector.local import LevelInfo, ParentBatchVectorEnv
from babyworld.vector.make import make_envs

__all__ = ["LevelInfo", "ParentBatchVectorEnv", "make_envs"]

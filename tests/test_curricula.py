"""Curricula: protocol, ladder, learning-progress bandit, parent-designed, checkpoints, errors.

Synthetic success streams stand in for a learner; the parent-designed curriculum is tested with a
labelled fake parent whose scores the test controls (and once with the real LLM, marked ``llm``).
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from babyworld import make_parent
from babyworld.curricula import (
    DEFAULT_LADDER,
    EpisodeStats,
    FixedCurriculum,
    LadderCurriculum,
    LearningProgressCurriculum,
    ParentDesignedCurriculum,
    ability_summary,
    describe_tasks,
    make_curriculum,
)
from babyworld.task import Task

POINT, NAME_SHAPE, NAME_BOTH, REQUEST, CHAT = DEFAULT_LADDER


def ep(success: float) -> EpisodeStats:
    return EpisodeStats(success=success, exchanges=4, steps=4)


def feed(curriculum, task: Task, successes) -> list[float]:
    return [curriculum.update(task, ep(s)) for s in successes]


class FakeParent:
    """A FAKE parent for unit tests (not a language model): calibrated scores chosen by the test.

    ``score`` returns, per pair, one "token" whose log-prob is ``values[description]`` in an
    ability-summary context and 0 in the neutral context, so ``calibrated_scores`` gives exactly
    ``values[description]``.
    """

    label = "fake"

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.calls = 0

    def score(self, contexts, continuations):
        self.calls += 1
        out = []
        for ctx, cont in zip(contexts, continuations, strict=True):
            desc = cont.strip().rstrip(".")
            out.append(np.array([self.values[desc] if ": the baby " in ctx else 0.0]))
        return out


def fake_for(tasks, favourite_order) -> FakeParent:
    """Fake parent preferring tasks in ``favourite_order`` (first = highest score)."""
    descs = describe_tasks(tasks)
    values = {descs[i]: float(len(favourite_order) - r) for r, i in enumerate(favourite_order)}
    return FakeParent(values)


# -- protocol and base -------------------------------------------------------------------------


def test_episode_stats_validation():
    assert EpisodeStats(success=True, exchanges=4, steps=4).success == 1.0
    with pytest.raises(ValueError, match=r"success must be a fraction in \[0, 1\]"):
        EpisodeStats(success=1.5, exchanges=4, steps=4)
    with pytest.raises(ValueError, match=r"success must be a fraction in \[0, 1\]"):
        EpisodeStats(success=float("nan"), exchanges=4, steps=4)
    with pytest.raises(ValueError, match="exchanges must be an integer >= 0"):
        EpisodeStats(success=0.5, exchanges=-1, steps=4)


def test_update_returns_hand_computed_progress():
    c = FixedCurriculum(POINT, beta=0.5)
    # p: 0 -> 0.5 -> 0.75 -> 0.375 -> 0.4375
    assert feed(c, POINT, [1, 1, 0, 0.5]) == pytest.approx([0.5, 0.25, -0.375, 0.0625])
    assert c.estimate(POINT) == pytest.approx(0.4375)
    assert c.log() == {"episodes": 4.0, "p/Point": pytest.approx(0.4375)}


def test_progress_lies_in_minus_beta_beta():
    c = LadderCurriculum(beta=0.1)
    rng = np.random.default_rng(0)
    progress = [c.update(POINT, ep(float(rng.random()))) for _ in range(200)]
    assert all(-0.1 <= x <= 0.1 for x in progress)


def test_fixed_always_same_task():
    c = make_curriculum("fixed", tasks=[NAME_SHAPE])
    rng = np.random.default_rng(0)
    assert {c.sample_task(rng) for _ in range(50)} == {NAME_SHAPE}
    assert make_curriculum("fixed").tasks == (POINT,)
    assert make_curriculum("fixed", task=CHAT).tasks == (CHAT,)
    assert FixedCurriculum("Point").task == POINT  # a level name is the level's default task


# -- ladder ------------------------------------------------------------------------------------


def test_ladder_promotes_exactly_when_window_mean_reaches_threshold():
    c = LadderCurriculum([POINT, NAME_SHAPE, NAME_BOTH], threshold=0.75, window=4, retest_rate=0)
    feed(c, POINT, [0, 0, 1, 1])  # window [0, 0, 1, 1]: mean 0.5
    assert c.stage == 0
    feed(c, POINT, [1])  # window [0, 1, 1, 1]: mean 0.75 >= 0.75 at episode 5
    assert c.stage == 1 and c.promotions == [(1, 5)]
    assert c.stage_episodes == 0 and "window_success" not in c.log()  # window reset
    feed(c, NAME_SHAPE, [1, 1, 1])  # 3 < window episodes: no promotion yet even at mean 1
    assert c.stage == 1 and c.log()["window_success"] == 1.0
    feed(c, NAME_SHAPE, [1])
    assert c.stage == 2 and c.promotions == [(1, 5), (2, 9)]
    feed(c, NAME_BOTH, [1] * 20)  # the last stage stays
    assert c.stage == 2 and len(c.promotions) == 2
    assert c.log()["stage"] == 2.0 and c.log()["stage_episodes"] == 20.0


def test_ladder_no_promotion_below_threshold():
    c = LadderCurriculum(threshold=0.8, window=10)
    feed(c, POINT, [0.79] * 300)
    assert c.stage == 0 and not c.promotions
    c = LadderCurriculum(threshold=0.8, window=10)
    feed(c, POINT, [1, 0, 1, 1, 1, 1, 0, 1, 1, 0.79] * 30)  # every window: mean 0.779
    assert c.stage == 0 and not c.promotions
    assert c.log()["window_success"] == pytest.approx(0.779)
    feed(c, POINT, [0.8] * 10)
    assert c.stage == 1


def test_ladder_threshold_one_needs_perfect_window():
    c = LadderCurriculum(threshold=1.0, window=3)
    feed(c, POINT, [1, 1, 0.99, 1, 1])
    assert c.stage == 0
    feed(c, POINT, [1])
    assert c.stage == 1


def test_ladder_retest_rate_and_uniform_earlier_stages():
    c = LadderCurriculum(threshold=0.5, window=1, retest_rate=0.3)
    rng = np.random.default_rng(1)
    assert {c.sample_task(rng) for _ in range(500)} == {POINT}  # nothing passed: no re-test
    feed(c, POINT, [1])
    feed(c, NAME_SHAPE, [1])
    assert c.stage == 2
    n = 20_000
    picks = [c.sample_task(rng) for _ in range(n)]
    sigma = math.sqrt(0.3 * 0.7 / n)
    assert abs(sum(t != NAME_BOTH for t in picks) / n - 0.3) < 4 * sigma
    for earlier in (POINT, NAME_SHAPE):  # uniform over the passed stages: 0.15 each
        assert abs(picks.count(earlier) / n - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    assert set(picks) == {POINT, NAME_SHAPE, NAME_BOTH}


def test_ladder_retention_logged_and_retests_do_not_count():
    c = LadderCurriculum(threshold=0.5, window=4, retest_rate=0.1)
    feed(c, POINT, [1, 1, 1, 1])
    assert c.stage == 1
    feed(c, NAME_SHAPE, [0, 0, 0])
    feed(c, POINT, [1, 0, 0, 0, 0, 0])  # forgetting Point; these must not promote Name
    log = c.log()
    assert c.stage == 1 and log["stage_episodes"] == 3.0
    assert log["retention/Point"] == 0.0  # window of 4: the last four re-tests
    assert log["retest_episodes"] == 6.0
    assert log["window_success"] == 0.0
    assert "retention/Name[attributes=shape]" not in log


# -- learning progress -------------------------------------------------------------------------


def test_learning_progress_hand_computed():
    c = LearningProgressCurriculum([POINT, NAME_SHAPE], fast=0.5, slow=0.25, epsilon=0.2)
    np.testing.assert_allclose(c.probabilities(), [0.5, 0.5])  # all LP 0: uniform
    feed(c, POINT, [0, 1, 1])
    # both EMAs start at the first success 0; s=1: f=0.5, g=0.25; s=1: f=0.75, g=0.4375
    feed(c, NAME_SHAPE, [1, 1, 1])  # starts at 1 and stays: no progress
    np.testing.assert_allclose(c.learning_progress(), [0.3125, 0.0])
    np.testing.assert_allclose(c.probabilities(), [0.1 + 0.8, 0.1])
    log = c.log()
    assert log["lp/Point"] == pytest.approx(0.3125) and log["lp/Name[attributes=shape]"] == 0.0
    assert log["prob/Name[attributes=shape]"] == pytest.approx(0.1)


def test_learning_progress_prefers_the_changing_task_with_epsilon_floor():
    tasks = [POINT, NAME_SHAPE, NAME_BOTH]
    c = LearningProgressCurriculum(tasks, epsilon=0.3)
    rng = np.random.default_rng(0)
    plays = dict.fromkeys(tasks, 0)
    for _ in range(1500):
        probs = c.probabilities()
        assert probs.min() >= 0.3 / 3 - 1e-12 and probs.sum() == pytest.approx(1.0)
        t = c.sample_task(rng)
        plays[t] += 1
        # Point is being learnt (success rises with practice); the others are flat
        s = min(1.0, plays[t] / 300) if t == POINT else (0.5 if t == NAME_SHAPE else 0.0)
        c.update(t, ep(s))
    assert plays[POINT] > 2 * plays[NAME_SHAPE] and plays[POINT] > 2 * plays[NAME_BOTH]
    assert min(plays.values()) > 0.5 * 0.3 / 3 * 1500


# -- parent-designed ---------------------------------------------------------------------------


def test_describe_tasks_and_summary():
    assert describe_tasks(DEFAULT_LADDER) == (
        "pointing at the toy mom asks for",
        "saying the name of a toy",
        "saying the colour and the name of a toy",
        "asking for the toy it needs with a few words",
        "talking with mom",
    )
    two = [Task.make("Request", max_words=2), Task.make("Request", max_words=4)]
    assert describe_tasks(two) == (
        "asking for the toy it needs with a few words (max_words=2)",
        "asking for the toy it needs with a few words (max_words=4)",
    )
    with pytest.raises(ValueError, match=r"no description for task Dance; pass descriptions="):
        describe_tasks([Task.make("Dance")])
    assert describe_tasks([Task.make("Dance")], {"Dance": "dancing"}) == ("dancing",)
    summary = ability_summary(["pointing", "naming", "asking"], [0.9, 0.5, 0.1], 0.2, 0.8)
    assert summary == (
        "- Pointing: the baby can do this.\n"
        "- Naming: the baby is learning this.\n"
        "- Asking: the baby cannot do this yet."
    )


def test_parent_choice_is_argmax_among_not_mastered():
    # the fake parent likes Point best, then Chat, then the rest; Point gets mastered
    parent = fake_for(DEFAULT_LADDER, [0, 4, 1, 2, 3])
    c = ParentDesignedCurriculum(DEFAULT_LADDER, parent, every=10, retest_rate=0)
    rng = np.random.default_rng(0)
    assert c.sample_task(rng) == POINT  # nothing mastered: Point is the argmax
    feed(c, POINT, [1] * 16)  # p = 1 - 0.9**16 = 0.81 >= mastery 0.8
    assert c.sample_task(rng) == CHAT
    episode, summary, chosen, scores = c.choices[-1]
    assert (episode, chosen) == (16, "Chat")
    assert "- Pointing at the toy mom asks for: the baby can do this." in summary
    assert set(scores) == {t.name for t in DEFAULT_LADDER[1:]}  # only candidates are scored
    assert scores["Chat"] == 4.0
    assert c.log()["parent_choice"] == 4.0 and parent.calls == 2


def test_parent_decides_every_n_episodes_and_caches_by_summary():
    tasks = DEFAULT_LADDER[:3]
    parent = fake_for(tasks, [1, 0, 2])
    c = ParentDesignedCurriculum(tasks, parent, every=5, retest_rate=0)
    rng = np.random.default_rng(0)
    assert [c.sample_task(rng) for _ in range(20)] == [NAME_SHAPE] * 20
    assert parent.calls == 1 and len(c.choices) == 1
    feed(c, NAME_SHAPE, [0] * 4)
    c.sample_task(rng)
    assert len(c.choices) == 1  # 4 < every episodes since the decision
    feed(c, NAME_SHAPE, [0])
    c.sample_task(rng)
    assert len(c.choices) == 2  # re-decided after `every` episodes ...
    assert parent.calls == 1 and c.cache_hits == 1  # ... same summary: answered from the cache
    assert c.choices[1][1] == c.choices[0][1] and c.choices[1][0] == 5
    assert c.log()["parent_cache_hits"] == 1.0 and c.log()["parent_decisions"] == 2.0
    feed(c, NAME_SHAPE, [1] * 5)  # p ~ 0.41: "is learning this" -> a new summary
    c.sample_task(rng)
    assert parent.calls == 2 and c.cache_hits == 1 and len(c.cache) == 2


def test_parent_all_mastered_gives_last_task_without_calling():
    tasks = DEFAULT_LADDER[:2]
    parent = fake_for(tasks, [0, 1])
    c = ParentDesignedCurriculum(tasks, parent, every=1, retest_rate=0)
    for t in tasks:
        feed(c, t, [1] * 20)
    assert c.sample_task(np.random.default_rng(0)) == NAME_SHAPE
    assert parent.calls == 0 and c.choices[-1][3] == {}


def test_parent_retests_earlier_tasks_and_logs_retention():
    tasks = DEFAULT_LADDER[:3]
    c = ParentDesignedCurriculum(tasks, fake_for(tasks, [2, 1, 0]), retest_rate=0.5, window=3)
    rng = np.random.default_rng(0)
    picks = [c.sample_task(rng) for _ in range(2000)]
    assert abs(picks.count(NAME_BOTH) / 2000 - 0.5) < 0.05
    assert abs(picks.count(POINT) / 2000 - 0.25) < 0.05
    feed(c, POINT, [1, 0, 0, 0])
    feed(c, NAME_SHAPE, [1])
    log = c.log()
    assert log["retention/Point"] == 0.0 and log["retention/Name[attributes=shape]"] == 1.0
    assert log["retest_episodes"] == 5.0


def test_parent_curriculum_with_scripted_parent_runs():
    c = make_curriculum("parent", parent=make_parent("scripted"), every=3)
    rng = np.random.default_rng(0)
    for _ in range(12):
        t = c.sample_task(rng)
        c.update(t, ep(1.0))
    assert len(c.choices) == 4 and c.config()["parent"] == "scripted"


# -- checkpoints -------------------------------------------------------------------------------


def _drive(c, rng, n, seed=0):
    """Sample n tasks and feed a deterministic synthetic success stream; returns samples, logs."""
    outcomes = np.random.default_rng(seed)
    samples, logs = [], []
    for _ in range(n):
        t = c.sample_task(rng)
        # a learner that gets better the better it already is on that task
        c.update(t, ep(float(outcomes.random() < 0.3 + 0.7 * c.estimate(t))))
        samples.append(t.name)
        logs.append(c.log())
    return samples, logs


BUILDERS = {
    "fixed": lambda: make_curriculum("fixed", tasks=[NAME_SHAPE]),
    "ladder": lambda: make_curriculum("ladder", threshold=0.6, window=5, retest_rate=0.3),
    "progress": lambda: make_curriculum("progress", epsilon=0.1),
    "parent": lambda: make_curriculum(
        "parent", parent=fake_for(DEFAULT_LADDER, [2, 0, 1, 4, 3]), every=7, retest_rate=0.3
    ),
}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_state_round_trip_gives_same_future(kind):
    c1 = BUILDERS[kind]()
    _drive(c1, np.random.default_rng(0), 150)
    state = json.loads(json.dumps(c1.state_dict()))  # JSON-safe
    c2 = BUILDERS[kind]()
    c2.load_state_dict(state)
    assert c2.state_dict() == c1.state_dict()
    future1 = _drive(c1, np.random.default_rng(7), 150, seed=3)
    future2 = _drive(c2, np.random.default_rng(7), 150, seed=3)
    assert future1 == future2
    if kind == "ladder":
        assert c1.promotions == c2.promotions and c1.promotions
    if kind == "parent":
        assert c2.choices == c1.choices and c2.cache_hits == c1.cache_hits > 0


def test_state_survives_torch_save_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    c1 = BUILDERS["parent"]()
    _drive(c1, np.random.default_rng(0), 60)
    torch.save({"curriculum": c1.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["curriculum"]
    c2 = BUILDERS["parent"]()
    c2.load_state_dict(state)
    assert c2.state_dict() == c1.state_dict()


def test_load_rejects_other_kind_tasks_settings_and_leaves_state_intact():
    ladder = LadderCurriculum([POINT, NAME_SHAPE, CHAT], window=3)
    feed(ladder, POINT, [1, 1, 1])
    with pytest.raises(
        ValueError, match=r"state is from a 'ladder' curriculum; this is a 'progress'"
    ):
        LearningProgressCurriculum([POINT, NAME_SHAPE, CHAT]).load_state_dict(ladder.state_dict())
    other = LadderCurriculum([POINT, NAME_BOTH, CHAT], window=3)
    with pytest.raises(
        ValueError,
        match=r"another task space: only in the saved state: \['Name\[attributes=shape\]'\]; "
        r"only in this curriculum: \['Name\[attributes=shape\+color\]'\]",
    ):
        other.load_state_dict(ladder.state_dict())
    with pytest.raises(ValueError, match="same tasks in another order"):
        LadderCurriculum([NAME_SHAPE, POINT, CHAT], window=3).load_state_dict(ladder.state_dict())
    with pytest.raises(ValueError, match=r"other settings \(window: saved 3, here 4\)"):
        LadderCurriculum([POINT, NAME_SHAPE, CHAT], window=4).load_state_dict(ladder.state_dict())
    fresh = LadderCurriculum([POINT, NAME_SHAPE, CHAT], window=3)
    before = fresh.state_dict()
    bad = ladder.state_dict()
    bad["stage"] = 7
    with pytest.raises(ValueError, match="malformed curriculum state: .*stage 7 is outside 0..2"):
        fresh.load_state_dict(bad)
    bad = ladder.state_dict()
    del bad["retention"]
    with pytest.raises(ValueError, match="malformed curriculum state"):
        fresh.load_state_dict(bad)
    assert fresh.state_dict() == before  # nothing half-loaded


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: LadderCurriculum(threshold=0), r"threshold must be in \(0, 1\], got 0"),
        (lambda: LadderCurriculum(threshold=1.5), r"threshold must be in \(0, 1\], got 1.5"),
        (lambda: LadderCurriculum(window=0), r"window must be an integer >= 1, got 0"),
        (lambda: LadderCurriculum(retest_rate=-0.1), r"retest_rate must be in \[0, 1\]"),
        (lambda: LadderCurriculum(retest_rate=1.1), r"retest_rate must be in \[0, 1\]"),
        (lambda: LadderCurriculum(beta=0), r"beta must be in \(0, 1\], got 0"),
        (lambda: LearningProgressCurriculum(epsilon=1.2), r"epsilon must be in \[0, 1\]"),
        (lambda: LearningProgressCurriculum(fast=0.05, slow=0.2), "slow must be smaller than fast"),
        (
            lambda: ParentDesignedCurriculum(DEFAULT_LADDER, FakeParent({}), every=0),
            r"every must be an integer >= 1, got 0",
        ),
        (
            lambda: ParentDesignedCurriculum(DEFAULT_LADDER, FakeParent({}), retest_rate=2),
            r"retest_rate must be in \[0, 1\], got 2",
        ),
        (lambda: LadderCurriculum([]), "needs at least one task, got an empty task list"),
        (
            lambda: LearningProgressCurriculum([POINT, CHAT, POINT]),
            "duplicate tasks in the task space: Point",
        ),
        (
            lambda: make_curriculum("bandit"),
            r"unknown curriculum kind 'bandit'; choose one of "
            r"fixed, ladder, progress, parent",
        ),
        (lambda: make_curriculum("parent"), "the 'parent' curriculum needs parent="),
        (lambda: make_curriculum("fixed", tasks=[POINT, CHAT]), "exactly one task"),
    ],
)
def test_bad_input_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_update_with_unknown_task_and_bad_arguments():
    c = LadderCurriculum([POINT, NAME_SHAPE])
    with pytest.raises(ValueError, match=r"task Chat is not in this curriculum's task space"):
        c.update(CHAT, ep(1))
    with pytest.raises(TypeError, match="update\\(\\) takes EpisodeStats"):
        c.update(POINT, 1.0)
    with pytest.raises(TypeError, match="numpy Generator"):
        c.sample_task(0)
    assert c.episodes == 0


def test_curricula_import_only_core():
    """Layering: curricula import babyworld core, never agents, experiments or envs."""
    root = Path(__file__).resolve().parents[1] / "curricula"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
                assert not mod.startswith(
                    ("babyworld.agents", "babyworld.experiments", "babyworld.envs")
                ), f"{path.name} imports {mod}"


# -- the real parent ---------------------------------------------------------------------------


@pytest.mark.llm
def test_real_parent_picks_a_task_the_baby_cannot_do(llm_parent):
    tasks = DEFAULT_LADDER[:3]  # short prompts: one batched score call of 2 x 2 pairs
    c = ParentDesignedCurriculum(tasks, llm_parent, retest_rate=0)
    feed(c, POINT, [1] * 20)  # can point, cannot name
    calls = llm_parent.stats.calls
    chosen = c.sample_task(np.random.default_rng(0))
    assert chosen in (NAME_SHAPE, NAME_BOTH)
    ((episode, summary, name, scores),) = c.choices
    assert "Pointing at the toy mom asks for: the baby can do this." in summary
    assert "Saying the name of a toy: the baby cannot do this yet." in summary
    assert name == chosen.name and set(scores) == {NAME_SHAPE.name, NAME_BOTH.name}
    assert all(math.isfinite(v) for v in scores.values())
    assert c.log()["parent_choice"] == float(tasks.index(chosen))
    assert llm_parent.stats.calls - calls <= 1


@pytest.mark.parametrize(
    "task",
    [*DEFAULT_LADDER, Task.make("Request", max_words=1), Task.make("Chat", distractors=2)],
    ids=str,
)
def test_task_parse_reads_back_its_name(task):
    assert Task.parse(task.name) == task
    assert Task.parse(f" {task.name} ") == task


def test_task_parse_by_hand_and_bad_names():
    assert Task.parse("Request[max_words=1]") == Task.make("Request", max_words=1)
    assert Task.parse("Name[attributes=shape]").kwargs == {"attributes": ("shape",)}
    assert Task.parse("Name[attributes=shape+color]").kwargs == {"attributes": ("shape", "color")}
    for bad in ("", "Request[", "Request[max_words=1", "[max_words=1]", "1Point"):
        with pytest.raises(ValueError, match="cannot read a task from"):
            Task.parse(bad)
    for bad in ("Request[max_words]", "Request[max_words=]", "Request[a=1,a=2]", "Name[=x]"):
        with pytest.raises(ValueError, match="cannot read the setting"):
            Task.parse(bad)


def test_curriculum_config_stages():
    from babyworld.experiments.config import CurriculumConfig, TrainConfig

    cfg = CurriculumConfig(stages=["Request[max_words=1]", "Request"])  # a list, as from JSON
    assert cfg.stages == ("Request[max_words=1]", "Request")
    assert cfg.tasks() == (Task.make("Request", max_words=1), Task.make("Request"))
    assert cfg.single_level() == "Request"
    assert CurriculumConfig(stages=("Point", "Request")).single_level() is None
    assert CurriculumConfig().single_level() is None and CurriculumConfig().tasks() == ()
    with pytest.raises(ValueError, match=r"unknown levels \['Talk'\]"):
        CurriculumConfig(stages=("Talk",))
    with pytest.raises(ValueError, match="duplicate tasks"):
        CurriculumConfig(stages=("Request", "Request[max_words=1]", "Request"))
    with pytest.raises(ValueError, match="cannot read a task"):
        CurriculumConfig(stages=("Request[",))
    with pytest.raises(ValueError, match="pass --curriculum ladder"):
        TrainConfig(curricula=CurriculumConfig(stages=("Request",)))
    one = TrainConfig(curriculum="ladder", curricula=cfg)
    assert one.envs_level == "Request"
    # the saved config reads back equal (JSON has lists where the config holds tuples)
    saved = json.loads(json.dumps(one.to_dict()))
    assert saved == one.to_dict() == TrainConfig.from_dict(saved).to_dict()
    assert TrainConfig.from_dict(saved).curricula.stages == cfg.stages
    assert TrainConfig(curriculum="ladder").envs_level == "Ladder"
    mixed = CurriculumConfig(stages=("Name", "Request"))
    assert TrainConfig(curriculum="progress", curricula=mixed).envs_level == "Ladder"
    assert TrainConfig(level="Name").envs_level == "Name"


def test_adaptive_retests_follow_the_measured_forgetting():
    c = LadderCurriculum(
        [POINT, NAME_SHAPE, NAME_BOTH], threshold=0.8, window=1, retest_rate=0.1, retest_gain=2.0
    )
    feed(c, POINT, [1.0])  # passed: stage 1
    feed(c, NAME_SHAPE, [1.0])  # passed: stage 2
    feed(c, POINT, [0.3])  # a re-test: Point has fallen to 0.3
    # deficits: Point 0.8 - 0.3 = 0.5, Name[shape] not re-tested yet 0; F = 0.25
    np.testing.assert_allclose(c.deficits(), [0.5, 0.0])
    # re-test rate 0.1 + 2 * 0.25 = 0.6; stage weights (0.5 + 1/2, 0 + 1/2) -> 2/3, 1/3
    rng = np.random.default_rng(0)
    draws = np.bincount([c.tasks.index(c.sample_task(rng)) for _ in range(30_000)])
    np.testing.assert_allclose(draws / draws.sum(), [0.6 * 2 / 3, 0.6 / 3, 0.4], atol=0.01)
    with pytest.raises(ValueError, match="retest_gain must be a number >= 0"):
        LadderCurriculum([POINT, NAME_SHAPE], retest_gain=-1.0)
    with pytest.raises(ValueError, match="retest_gain must be a number >= 0"):
        LadderCurriculum([POINT, NAME_SHAPE], retest_gain=float("nan"))


def test_without_gain_the_retests_are_the_fixed_rates_draw_for_draw():
    a = LadderCurriculum([POINT, NAME_SHAPE, NAME_BOTH], window=1, retest_rate=0.3)
    b = LadderCurriculum([POINT, NAME_SHAPE, NAME_BOTH], window=1, retest_rate=0.3, retest_gain=0)
    for c in (a, b):
        feed(c, POINT, [1.0])
        feed(c, NAME_SHAPE, [1.0])
    ra, rb = np.random.default_rng(1), np.random.default_rng(1)
    assert [a.sample_task(ra) for _ in range(200)] == [b.sample_task(rb) for _ in range(200)]
    assert "retest_gain" not in a.config()  # older saved states load as fixed re-tests

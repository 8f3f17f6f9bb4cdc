"""``babyworld cache info|clear`` on a temporary store."""

from __future__ import annotations

import pytest

from babyworld.experiments.cli import main
from babyworld.parent.scripted import ScriptedParent
from babyworld.parent.store import AnswerStore
from babyworld.parent.store_file import ENV_PATH


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "answers.sqlite3"
    monkeypatch.setenv(ENV_PATH, str(path))
    ScriptedParent(store=AnswerStore(path)).score(["the red ball", "a box"], [" ball", " box"])
    ScriptedParent(copy=0.25, store=AnswerStore(path)).score(["the red ball"], [" red"])
    return path


def _keys(path) -> dict[str, int]:
    return {m["key"]: m["answers"] for m in AnswerStore(path).info()["models"]}


def test_info_lists_every_model_key(store_path, capsys):
    main(["cache", "info"])
    out = capsys.readouterr().out
    assert out.startswith(f"answer store: {store_path}\nsize: ")
    for key, answers in _keys(store_path).items():
        line = next(ln for ln in out.splitlines() if ln.startswith(key))
        assert line.split()[1:] == ["scripted", "scripted", str(answers), "0", str(answers)]
    assert sorted(_keys(store_path).values()) == [1, 2]


def test_clear_one_model_key_then_everything(store_path, capsys):
    keys = _keys(store_path)
    two = next(k for k, n in keys.items() if n == 2)
    main(["cache", "clear", "--model", two[:6]])
    assert (
        capsys.readouterr().out == f"deleted 2 answers of model key {two[:6]} from {store_path}\n"
    )
    assert list(_keys(store_path).values()) == [1]
    main(["cache", "clear"])
    assert capsys.readouterr().out == f"deleted 1 answers of every model from {store_path}\n"
    assert _keys(store_path) == {}


def test_clear_an_unknown_key_is_refused(store_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["cache", "clear", "--model", "nokey"])
    assert e.value.code == 2
    assert "model key 'nokey' matches 0 of the store's keys" in capsys.readouterr().err


def test_clear_removes_a_damaged_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "answers.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    main(["cache", "info", "--path", str(path)])
    assert "unusable: the file is damaged" in capsys.readouterr().out
    main(["cache", "clear", "--path", str(path)])
    assert capsys.readouterr().out == f"removed the unusable answer store {path}\n"
    assert not path.exists()


def test_info_when_the_store_is_off(monkeypatch, capsys):
    monkeypatch.setenv(ENV_PATH, "off")
    main(["cache", "info"])
    assert capsys.readouterr().out == (
        "the answer store is off (BABYWORLD_STORE=off); nothing is kept on disk\n"
    )

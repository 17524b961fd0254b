"""A real sweep on the tiny model through the `ftui` command: plain runs, a leaderboard, a winner
that `ftui train --resume --max-steps` trains on, and a candidate that fails late."""

from __future__ import annotations

import json

from conftest import events_of, ftui
from ftui.rundir.sweep import read_sweep


def test_a_tiny_sweep_end_to_end_and_the_winner_trains_on(make_recipe, tmp_path):
    recipe = make_recipe()
    folder = tmp_path / "runs" / "s"
    result = ftui("sweep", recipe, "--lr", "1e-3,3e-3", "--set", "data.text_column=text,nosuch", "--budget", "3",
                  "--name", "s", "--json", timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line is one JSON object
    ended, board = lines[:-1], lines[-1]
    assert len(ended) == 4 and set(board) >= {"leaderboard", "winner", "promote"}

    sweep = read_sweep(folder)
    status = {c.params["data.text_column"]: set() for c in sweep.candidates}
    for c in sweep.candidates:
        status[c.params["data.text_column"]].add(c.status)
    assert status == {"text": {"done"}, "nosuch": {"failed"}}, "a late failure marks that one, the sweep goes on"
    assert all("nosuch" in c.message for c in sweep.candidates if c.status == "failed")
    done = [c for c in sweep.candidates if c.status == "done"]
    assert sweep.winner in {c.name for c in done} and board["winner"] == sweep.winner
    for c in done:
        assert c.step == 3 and c.value is not None and c.params_trainable > 0 and c.checkpoint_bytes > 0
        assert events_of(folder / c.run, "summary")[-1]["status"] == "finished"
    assert [row["status"] for row in board["leaderboard"]] == ["done", "done", "failed", "failed"]

    listed = ftui("runs", "--json", "--runs-dir", folder, check=True)
    assert sorted(json.loads(line)["name"] for line in listed.stdout.splitlines()) == sorted(c.run for c in done)

    winner = folder / sweep.candidate(sweep.winner).run
    assert board["promote"].startswith(f"ftui train --resume {winner} --max-steps ")
    ftui("train", "--resume", winner, "--max-steps", "5", "--headless", check=True, timeout=600)
    assert events_of(winner, "summary")[-1]["final_step"] == 5, "resumed with more steps, it trains on"
    assert events_of(winner, "run_start")[-1]["resumed_from"].endswith("checkpoint-3")

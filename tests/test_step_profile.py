"""tools/step_profile.py: the op times it reads from TensorFlow's profiler are the ops that ran."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.conftest import REPO


def test_op_times_count_each_op_a_traced_function_runs(tmp_path):
    from tools import step_profile

    x = tf.random.normal([64, 64])
    step = tf.function(lambda x: tf.nn.softmax(tf.matmul(x, x)))
    step(x)  # traced before the profile, as the tool's first epoch does
    tf.profiler.experimental.start(str(tmp_path), options=tf.profiler.experimental.ProfilerOptions(host_tracer_level=2))
    for _ in range(3):
        step(x).numpy()
    tf.profiler.experimental.stop()
    picoseconds, calls = step_profile.op_times(str(tmp_path))
    matmul = [kind for kind in calls if kind.endswith("MatMul")]
    softmax = [kind for kind in calls if kind.endswith("Softmax")]
    assert len(matmul) == len(softmax) == 1 and calls[matmul[0]] == calls[softmax[0]] == 3
    assert all(picoseconds[kind] > 0 for kind in calls)
    assert not any("::" in kind or "Process" in kind for kind in calls)  # the executor's own events left out


def _profile(glue_dir, *flags) -> dict:
    out = subprocess.run([sys.executable, "tools/step_profile.py", "--preset", "tiny", "--train-rows", "48", "--json",
                          *flags], cwd=REPO, env={**os.environ, "GLUE_DIR": str(glue_dir)}, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return json.loads(out)


@pytest.mark.costly
def test_it_profiles_a_fit_epoch_or_a_predict_pass_with_the_threads_between_ops_asked_for(glue_dir):
    fit = _profile(glue_dir, "--inter-op-threads", "1")
    assert (fit["phase"], fit["steps"], fit["inter_op_threads"]) == ("fit", 6, 1)  # 48 rows in batches of 8
    predict = _profile(glue_dir, "--predict")
    assert (predict["phase"], predict["steps"], predict["inter_op_threads"]) == ("predict", 7, None)  # 408 rows / 64
    for summary in (fit, predict):
        assert any(row["op"].endswith("MatMul") for row in summary["ops"]) and summary["wall_ms_per_step"] > 0
        assert abs(sum(row["share"] for row in summary["ops"]) - 1) < 1e-9
    adam = "XLA executable (Adam's update)"  # once a step in fit, never in predict
    assert [row["calls_per_step"] for row in fit["ops"] if row["op"] == adam] == [1]
    assert adam not in {row["op"] for row in predict["ops"]}


def test_fewer_than_one_thread_between_ops_stops_in_one_line(monkeypatch, capsys):
    from tools import step_profile

    monkeypatch.setattr("sys.argv", ["step_profile.py", "--inter-op-threads", "0"])
    with pytest.raises(SystemExit) as stop:
        step_profile.main()
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "step_profile.py: error: --inter-op-threads must be >= 1"

"""tools/step_profile.py: the op times it reads from TensorFlow's profiler are the ops that ran."""

import tensorflow as tf


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

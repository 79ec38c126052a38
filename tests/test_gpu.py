"""GPU-only checks (`python -m pytest -m gpu`, or `tox -e gpu`)."""

import pytest

from glue_repro.config import TINY_PRESET
from glue_repro.run import run

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("xla", [False, True])
def test_tiny_run_on_the_gpu(glue_dir, tmp_path, precision, xla):
    import tf_keras

    try:
        result, _ = run(TINY_PRESET.replace(limit=32, epochs=1, precision=precision, xla=xla), data_dir=glue_dir,
                        runs_dir=tmp_path, verbose=0)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert result["device"]["gpus"], "the result must name the GPU it ran on"
    assert result["config"]["recipe"]["precision"] == precision and result["config"]["speed"]["xla"] == xla
    assert result["logits_shape"] == [32, 2]
    assert result["history"]["loss"][0] == result["history"]["loss"][0]  # not NaN

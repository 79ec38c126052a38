"""The layout of every file the suite writes."""

import inspect

from glue_repro import schema


def test_every_key_of_every_record_has_a_comment():
    source = inspect.getsource(schema)
    for cls in (schema.Envelope, schema.Result, schema.Timing, schema.ModelSource, schema.Aggregate,
                schema.Baseline, schema.Verdict, schema.LrDecay):
        for key in cls.__annotations__:
            lines = [line for line in source.splitlines() if line.strip().startswith(f"{key}:")]
            assert lines and all("#" in line for line in lines), (cls.__name__, key)


def test_a_new_envelope_says_what_where_and_when():
    import tensorflow  # noqa: F401  (the device probe reads GPUs where TensorFlow is loaded)

    made = schema.envelope("aggregate")
    assert list(made) == list(schema.Envelope.__annotations__)
    assert made["kind"] == "aggregate" and made["schema_version"] == schema.SCHEMA_VERSION
    assert made["created"].endswith("+00:00") and made["device"]["cpu"] and isinstance(made["device"]["gpus"], list)
    assert set(made["versions"]) >= {"python", "tensorflow", "transformers"}

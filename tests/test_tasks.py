"""The task table: each row says everything the suite needs to know about a task."""

from glue_repro.tasks import COURSE_TASK, TASKS, LocalFiles, task


def test_a_local_file_names_each_column_by_its_header_or_by_its_own_name():
    files = LocalFiles("MRPC", columns={"sentence1": "#1 String"}, label="Quality")
    assert files.header("sentence1") == "#1 String" and files.header("sentence2") == "sentence2"
    assert files.header("label") == "Quality" and LocalFiles("SST-2").header("label") == "label"


def test_every_row_has_its_metrics_primary_first_and_the_course_task_is_mrpc():
    for name, spec in TASKS.items():
        assert spec.name == name and spec.metrics and spec.primary_metric == spec.metrics[0]
        assert spec.num_labels == (1 if spec.is_regression else len(spec.label_names))
        assert spec.pair is (len(spec.text_columns) == 2)
    course, run_glue = task(COURSE_TASK).references
    assert COURSE_TASK == "mrpc" and course.scores == {"accuracy": 0.8578, "f1": 0.8997}
    for spec in TASKS.values():  # every published score names metrics of its task, between 0 and 1
        assert all(set(r.scores) <= set(spec.metrics) and all(0 < v < 1 for v in r.scores.values())
                   for r in spec.references)
    assert [name for name, spec in TASKS.items() if not spec.references] == ["mnli"]

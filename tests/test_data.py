import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from glue_repro.data import features, load_local
from glue_repro.errors import GlueReproError
from glue_repro.tasks import TASKS
from tests.glue_files import NEW_TASKS, sha256sums, write_glue_folder, write_hub_copy


def test_real_mrpc_counts_and_positives(mrpc):
    counts = {split: (len(ds), sum(ds["label"])) for split, ds in mrpc.items()}
    assert counts == {"train": (3668, 2474), "validation": (408, 279), "test": (1725, 1147)}


def test_real_mrpc_has_hub_schema_and_rows(mrpc):
    schema = features(TASKS["mrpc"])
    for split in mrpc.values():
        assert split.features == schema
    assert schema["label"].names == ["not_equivalent", "equivalent"]
    row = mrpc["validation"][0]
    assert row["sentence1"] == (
        "He said the foodservice pie business doesn 't fit the company 's long-term growth strategy ."
    )
    assert mrpc["train"][0]["sentence1"].startswith("Amrozi accused his brother")
    assert len(set(mrpc["train"]["idx"]) & set(mrpc["validation"]["idx"])) == 0  # positions in one file


def test_real_mrpc_checksums_verified(glue_dir):
    _, source = load_local(glue_dir)
    assert source.checksums_verified
    assert set(source.sha256) == {"msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv"}


def test_accepts_mrpc_folder_itself(glue_dir):
    splits, _ = load_local(glue_dir / "MRPC")
    assert len(splits["validation"]) == 408


def test_glue_tsv_layout_gives_same_rows(mrpc, tmp_path):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    for split, name in (("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv")):
        body = "".join(f"{r['label']}\t{i}\t{i}\t{r['sentence1']}\t{r['sentence2']}\n"
                       for i, r in enumerate(mrpc[split]))
        (tmp_path / name).write_text(header + body)
    splits, source = load_local(tmp_path)
    assert source.layout == "tsv" and not source.checksums_verified
    for split in ("train", "validation", "test"):
        assert splits[split]["sentence1"] == mrpc[split]["sentence1"]
        assert splits[split]["label"] == mrpc[split]["label"]
        # what differs, as the README says: idx counts rows of each tsv file, not of the MSR train file
        assert splits[split]["idx"] == list(range(len(mrpc[split])))
    assert mrpc["validation"]["idx"][:3] != [0, 1, 2]


def test_glue_tsv_test_without_labels_gets_minus_one(tmp_path):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    (tmp_path / "train.tsv").write_text(header + "1\t1\t2\ta\tb\n")
    (tmp_path / "dev.tsv").write_text(header + "0\t3\t4\tc\td\n")
    (tmp_path / "test.tsv").write_text("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t5\t6\te\tf\n")
    splits, _ = load_local(tmp_path)
    assert splits["test"]["label"] == [-1]


def test_small_folder_splits_by_dev_ids(small_mrpc):
    splits, source = load_local(small_mrpc)
    assert splits["validation"]["sentence1"] == ["He left ."]
    assert splits["validation"]["idx"] == [2]  # its row in the train file, as in the Hub builder
    assert splits["train"]["idx"] == [0, 1, 3]
    assert len(splits["test"]) == 2
    assert not source.checksums_verified  # no SHA256SUMS here


def _replace_line(path, line_number, text):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line_number - 1] = text
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    "file, line, text, message",
    [
        ("msr_paraphrase_train.txt", 3, "2\t20\t21\tRain today .\tSun tomorrow .\n", "line 3: label '2'"),
        ("msr_paraphrase_train.txt", 3, "-1\t20\t21\tRain today .\tSun tomorrow .\n", "line 3: label '-1'"),
        ("msr_paraphrase_train.txt", 2, "yes\t10\t11\tA cat sat .\tA cat .\n",
         "line 2: label 'yes' is not one of 0, 1"),
        ("msr_paraphrase_train.txt", 4, "1\t30\t31\tHe left .\n", "line 4: expected 5 tab-separated fields, got 4"),
        ("msr_paraphrase_test.txt", 1, "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\n",
         "line 1: missing column '#2 String'"),
        ("dev_ids.tsv", 1, "30\n", "line 1: expected two tab-separated ids"),
        ("dev_ids.tsv", 1, "99\t98\n", "line 1: pair ('99', '98') is not in msr_paraphrase_train.txt"),
    ],
)
def test_bad_file_names_file_and_line(small_mrpc, file, line, text, message):
    _replace_line(small_mrpc / file, line, text)
    with pytest.raises(GlueReproError) as err:
        load_local(small_mrpc)
    assert str(small_mrpc / file) in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize("file", ["msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv"])
def test_empty_file(small_mrpc, file):
    (small_mrpc / file).write_text("")
    with pytest.raises(GlueReproError, match=f"{file}: file is empty"):
        load_local(small_mrpc)


def test_header_only_file(small_mrpc):
    (small_mrpc / "msr_paraphrase_test.txt").write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
    with pytest.raises(GlueReproError, match="msr_paraphrase_test.txt: no data rows"):
        load_local(small_mrpc)


def test_checksum_mismatch(small_mrpc):
    (small_mrpc.parent / "SHA256SUMS").write_text(sha256sums(small_mrpc, MSR_NAMES, prefix="./MRPC/"))
    assert load_local(small_mrpc.parent)[1].checksums_verified
    _replace_line(small_mrpc / "msr_paraphrase_test.txt", 2, "1\t50\t51\tBig dog .\tHuge dog .\n")
    with pytest.raises(GlueReproError, match=r"msr_paraphrase_test.txt: SHA-256 \w+ does not match"):
        load_local(small_mrpc.parent)


MSR_NAMES = ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv")


def test_sums_that_list_only_some_files_vouch_for_none(small_mrpc):
    (small_mrpc.parent / "SHA256SUMS").write_text(sha256sums(small_mrpc, MSR_NAMES[:2], prefix="./MRPC/"))
    assert load_local(small_mrpc.parent)[1].checksums_verified is False


def test_upper_case_digests_and_sums_inside_the_task_folder_are_read(small_mrpc):
    (small_mrpc / "SHA256SUMS").write_text(sha256sums(small_mrpc, MSR_NAMES, upper=True))
    source = load_local(small_mrpc)[1]
    assert source.checksums_verified is True
    assert source.sha256["dev_ids.tsv"] == hashlib.sha256((small_mrpc / "dev_ids.tsv").read_bytes()).hexdigest()


def test_no_sums_file_vouches_for_nothing(small_mrpc):
    assert load_local(small_mrpc)[1].checksums_verified is False


def test_malformed_checksum_file(small_mrpc):
    (small_mrpc / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(GlueReproError, match="SHA256SUMS line 1"):
        load_local(small_mrpc)


def test_missing_folder(tmp_path):
    with pytest.raises(GlueReproError, match=f"{tmp_path / 'nowhere'}: data folder does not exist"):
        load_local(tmp_path / "nowhere")


def test_folder_without_task_files_lists_what_it_looked_for(tmp_path):
    with pytest.raises(GlueReproError) as refused:
        load_local(tmp_path)
    assert str(refused.value) == (f"{tmp_path}: no mrpc files found; expected msr_paraphrase_train.txt, "
                                  "msr_paraphrase_test.txt, dev_ids.tsv or train.tsv, dev.tsv, test.tsv")
    with pytest.raises(GlueReproError) as refused:
        load_local(tmp_path, "rte")
    assert str(refused.value) == f"{tmp_path}: no rte files found; expected train.tsv, dev.tsv, test.tsv"


def test_a_local_source_records_its_layout_and_resolved_folder(small_mrpc, tmp_path):
    source = load_local(small_mrpc.parent / "MRPC" / ".." / "MRPC")[1]
    assert (source.kind, source.location, source.layout) == ("local", str(small_mrpc.resolve()), "msr")
    _task_folder(tmp_path, "RTE", {"train.tsv": RTE_HEADER + "0\tA .\tB .\tentailment\n",
                                   "dev.tsv": RTE_HEADER + "0\tE .\tF .\tentailment\n", "test.tsv": RTE_TEST})
    assert load_local(tmp_path, "rte")[1].layout == "tsv"


def test_a_file_that_cannot_be_opened_is_named(small_mrpc, monkeypatch):
    from glue_repro import data

    def locked(path, mode="r"):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(data, "open", locked, raising=False)  # as root, chmod would not stop it
    with pytest.raises(GlueReproError) as refused:
        load_local(small_mrpc)
    assert str(refused.value) == f"{small_mrpc / 'dev_ids.tsv'}: cannot open (Permission denied)"


def test_a_byte_order_mark_is_dropped_from_the_first_line_only(small_mrpc):
    train = small_mrpc / "msr_paraphrase_train.txt"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join(lines[:2]) + "\ufeff" + "".join(lines[2:]), encoding="utf-8")
    with pytest.raises(GlueReproError, match=r"msr_paraphrase_train.txt line 3: label '\\ufeff0'"):
        load_local(small_mrpc)


def test_not_utf8(small_mrpc):
    path = small_mrpc / "msr_paraphrase_train.txt"
    path.write_bytes(path.read_bytes() + b"1\t70\t71\t\xff\xfe\tx\n")
    with pytest.raises(GlueReproError, match=f"^{path} line 6: not valid UTF-8$"):
        load_local(small_mrpc)


# Every local task: the Hub's row counts, label counts, schema and label order.
LOCAL_TASKS = {
    # task: {split: (rows, label counts in the Hub's class order, or None for scores)}
    "sst2": {"train": (67349, [29780, 37569]), "validation": (872, [428, 444]), "test": (1821, None)},
    "cola": {"train": (8551, [2528, 6023]), "validation": (1043, [322, 721]), "test": (1063, None)},
    "rte": {"train": (2490, [1249, 1241]), "validation": (277, [146, 131]), "test": (3000, None)},
    "wnli": {"train": (635, [323, 312]), "validation": (71, [40, 31]), "test": (146, None)},
    "stsb": {"train": (5749, None), "validation": (1500, None), "test": (1379, None)},
}


@pytest.fixture(scope="module")
def local_task(glue_dir, request):
    return load_local(glue_dir, request.param)


@pytest.mark.parametrize("local_task", list(LOCAL_TASKS), indirect=True)
def test_local_task_counts_labels_and_schema(local_task):
    splits, source = local_task
    spec = TASKS[source.task]
    assert source.layout == "tsv" and source.checksums_verified
    assert set(splits) == {"train", "validation", "test"}
    for name, split in splits.items():
        rows, label_counts = LOCAL_TASKS[spec.name][name]
        assert split.features == features(spec)
        assert len(split) == rows
        assert split["idx"] == list(range(rows))  # position in the file, as the Hub's builder numbers rows
        labels = np.asarray(split["label"])
        if name == "test":
            assert np.all(labels == -1)  # GLUE's test files carry no labels
        elif spec.is_regression:
            assert labels.min() == 0.0 and labels.max() == 5.0
        else:
            assert np.bincount(labels, minlength=spec.num_labels).tolist() == label_counts


def _first_data_row(path, headerless):
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0 if headerless else 1].split("\t")


@pytest.mark.parametrize("local_task", list(LOCAL_TASKS), indirect=True)
def test_first_row_of_each_split_is_the_files_first_data_row(local_task):
    splits, source = local_task
    spec = TASKS[source.task]
    folder = Path(source.location)
    for split, file in spec.local.files.items():
        headerless = split in spec.local.headerless
        fields = _first_data_row(folder / file, headerless)
        header = None if headerless else (folder / file).read_text(encoding="utf-8").splitlines()[0].split("\t")
        row = splits[split][0]
        for column in spec.text_columns:
            position = spec.local.positions[column] if headerless else header.index(spec.local.header(column))
            assert row[column] == fields[position], (split, column)
        if split != "test":
            position = spec.local.positions["label"] if headerless else header.index(spec.local.label)
            text = fields[position]
            want = float(text) if spec.is_regression else (
                spec.label_names.index(text) if text in spec.label_names else int(text))
            assert row["label"] == want


def _task_folder(tmp_path, name, files):
    folder = tmp_path / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"
RTE_TEST = "index\tsentence1\tsentence2\n0\tA .\tB .\n"


def test_word_labels_map_to_the_hub_order(tmp_path):
    folder = _task_folder(tmp_path, "RTE", {
        "train.tsv": RTE_HEADER + "0\tA .\tB .\tnot_entailment\n1\tC .\tD .\tentailment\n",
        "dev.tsv": RTE_HEADER + "0\tE .\tF .\tentailment\n", "test.tsv": RTE_TEST})
    splits, _ = load_local(folder, "rte")
    assert splits["train"]["label"] == [1, 0]  # entailment is class 0 on the Hub
    assert splits["test"]["label"] == [-1]


@pytest.mark.parametrize(
    "task, folder_name, files, message",
    [
        ("rte", "RTE", {"train.tsv": RTE_HEADER + "0\tA .\tB .\tmaybe\n", "dev.tsv": RTE_HEADER + "0\tA\tB\t0\n",
                        "test.tsv": RTE_TEST},
         "train.tsv line 2: label 'maybe' is not one of 0, 1, entailment, not_entailment"),
        ("rte", "RTE", {"train.tsv": "index\tsentence1\tsentence2\tlabl\n0\tA .\tB .\t0\n",
                        "dev.tsv": RTE_HEADER + "0\tA\tB\t0\n", "test.tsv": RTE_TEST},
         "train.tsv line 1: missing column 'label' (header: ['index', 'sentence1', 'sentence2', 'labl'])"),
        ("stsb", "STS-B", {"train.tsv": "sentence1\tsentence2\tscore\nA\tB\tfive\n",
                           "dev.tsv": "sentence1\tsentence2\tscore\nA\tB\t1.0\n",
                           "test.tsv": "sentence1\tsentence2\nA\tB\n"},
         "train.tsv line 2: score 'five' is not a number"),
        ("cola", "CoLA", {"train.tsv": "gj04\t1\t\tFine .\ngj04\t1\tOne too few .\n",
                          "dev.tsv": "gj04\t0\t*\tBad .\n", "test.tsv": "index\tsentence\n0\tX .\n"},
         "train.tsv line 2: expected 4 tab-separated fields, got 3"),
        ("sst2", "SST-2", {"train.tsv": "sentence\tlabel\n", "dev.tsv": "sentence\tlabel\nok\t1\n",
                           "test.tsv": "index\tsentence\n0\tX\n"},
         "train.tsv: no data rows after the header"),
        ("sst2", "SST-2", {"train.tsv": "", "dev.tsv": "sentence\tlabel\nok\t1\n",
                           "test.tsv": "index\tsentence\n0\tX\n"},
         "train.tsv: file is empty"),
        ("cola", "CoLA", {"train.tsv": "\n\n", "dev.tsv": "gj04\t0\t*\tBad .\n",
                          "test.tsv": "index\tsentence\n0\tX .\n"},
         "train.tsv: no data rows"),
    ],
)
def test_bad_task_file_names_file_and_line(tmp_path, task, folder_name, files, message):
    folder = _task_folder(tmp_path, folder_name, files)
    with pytest.raises(GlueReproError) as err:
        load_local(tmp_path, task)
    assert str(err.value).startswith(str(folder)) and str(err.value).endswith(message)


def test_a_task_missing_from_the_glue_folder_names_the_files_it_expects(glue_dir):
    with pytest.raises(GlueReproError, match=r": no mnli files found; expected train.tsv, dev_matched.tsv, "):
        load_local(glue_dir, "mnli")


def test_data_command_describes_a_task(glue_dir, capsys):
    from glue_repro import cli

    for task, lines in (("sst2", ["  train                   67349 rows  negative 29780, positive 37569",
                                  "  validation                872 rows  negative 428, positive 444",
                                  "  test                     1821 rows  1821 unlabelled"]),
                        ("stsb", ["  train                    5749 rows  scores 0-5",
                                  "  validation               1500 rows  scores 0-5",
                                  "  test                     1379 rows  1379 unlabelled"])):
        assert cli.main(["data", "--task", task, "--data-dir", str(glue_dir)]) == 0
        folder = glue_dir / {"sst2": "SST-2", "stsb": "STS-B"}[task]
        assert capsys.readouterr().out.splitlines() == [
            f"{task} from {folder.resolve()} (tsv files); every file matches SHA256SUMS", *lines]
    assert cli.main(["data", "--task", "stsb", "--data-dir", str(glue_dir), "--json"]) == 0
    raw = capsys.readouterr().out
    described = json.loads(raw)
    assert raw.splitlines()[1].startswith('  "') and not raw.splitlines()[1].startswith('   ')  # indented by two
    assert described["task"] == "stsb" and described["splits"]["validation"]["rows"] == 1500
    assert described["splits"]["train"]["score_range"] == [0.0, 5.0]
    assert described["source"]["checksums_verified"] is True


def test_data_command_names_a_hub_source_by_its_revision(monkeypatch, capsys):
    from glue_repro import cli, data

    source = {"kind": "hub", "location": "nyu-mll/glue", "revision": "bcdcba79", "checksums_verified": False}
    described = {"task": "rte", "source": source,
                 "splits": {"train": {"rows": 3, "label_counts": {"entailment": 2, "not_entailment": 1},
                                      "unlabelled": 0}}}
    monkeypatch.setattr(data, "load", lambda task, data_dir: (None, None))
    monkeypatch.setattr(data, "describe", lambda *loaded: described)
    assert cli.main(["data", "--task", "rte"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rte from the Hub: nyu-mll/glue at bcdcba79; no SHA256SUMS vouched for them",
        "  train                       3 rows  entailment 2, not_entailment 1"]


def test_the_hub_path_loads_the_pinned_revision_of_the_tasks_config(monkeypatch):
    import datasets

    from glue_repro import data

    asked = []

    def load_dataset(repo, config, revision=None):
        asked.append((repo, config, revision))
        if config == "cola":
            raise ConnectionError("offline")
        return "splits"

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    splits, source = data.load_hub("rte")
    assert splits == "splits" and asked == [("nyu-mll/glue", "rte", data.HUB_REVISION)]
    assert (source.kind, source.location, source.task, source.revision) == ("hub", "nyu-mll/glue", "rte",
                                                                            data.HUB_REVISION)
    message = (r"^could not load nyu-mll/glue/cola from the Hugging Face Hub \(offline\); "
               r"offline, load it from a local GLUE folder \(the data folder, or GLUE_DIR\)$")
    with pytest.raises(GlueReproError, match=message):
        data.load_hub("cola")


def _drop_quality_column(path):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line.split("\t", 1)[1] for line in lines), encoding="utf-8")


def test_the_msr_train_file_must_have_its_label_column(small_mrpc):
    _drop_quality_column(small_mrpc / "msr_paraphrase_train.txt")
    with pytest.raises(GlueReproError, match=r"msr_paraphrase_train.txt line 1: missing column 'Quality'"):
        load_local(small_mrpc)


def test_an_msr_test_file_without_labels_reads_as_unlabelled(small_mrpc):
    _drop_quality_column(small_mrpc / "msr_paraphrase_test.txt")
    splits = load_local(small_mrpc)[0]
    assert list(splits["test"]["label"]) == [-1, -1] and list(splits["test"]["sentence1"]) == ["Big dog .", "Up ."]
    assert list(splits["train"]["label"]) == [1, 0, 0]


def test_blank_lines_in_dev_ids_are_skipped_not_the_end(small_mrpc):
    (small_mrpc / "dev_ids.tsv").write_text("\n30\t31\n\n40\t41\n")
    splits = load_local(small_mrpc)[0]
    assert list(splits["validation"]["sentence1"]) == ["He left .", "Blue car ."]


def test_blank_lines_inside_files_are_skipped(tmp_path, small_mrpc):
    _task_folder(tmp_path, "SST-2", {"train.tsv": "sentence\tlabel\na\t1\n\nb\t0\n",
                                      "dev.tsv": "sentence\tlabel\nc\t1\n", "test.tsv": "index\tsentence\n0\tX\n"})
    assert list(load_local(tmp_path, "sst2")[0]["train"]["sentence"]) == ["a", "b"]
    train = small_mrpc / "msr_paraphrase_train.txt"
    train.write_text(train.read_text(encoding="utf-8").replace("\n", "\n\n", 2), encoding="utf-8")
    assert len(load_local(small_mrpc)[0]["train"]) == 3


def test_quoted_ids_in_dev_ids_are_not_unquoted(small_mrpc):
    (small_mrpc / "dev_ids.tsv").write_text('"30"\t31\n')
    with pytest.raises(GlueReproError, match=r"pair \('\"30\"', '31'\) is not in"):
        load_local(small_mrpc)


def test_sums_files_skip_blank_lines_and_unrelated_names_and_refuse_short_digests(small_mrpc):
    sums = small_mrpc / "SHA256SUMS"
    listed = sha256sums(small_mrpc, MSR_NAMES).splitlines(keepends=True)
    sums.write_text(listed[0] + "\n" + "".join(listed[1:]) + "0" * 64 + "  notes  v2.txt\n")
    assert load_local(small_mrpc)[1].checksums_verified is True
    sums.write_text("".join(listed) + "abc123  dev_ids.tsv\n")
    with pytest.raises(GlueReproError, match="SHA256SUMS line 4: expected '<sha256>  <file>'"):
        load_local(small_mrpc)


def test_load_reads_glue_dir_then_the_hub_and_defaults_to_mrpc(glue_dir, monkeypatch):
    from glue_repro import data

    monkeypatch.setenv("GLUE_DIR", str(glue_dir))
    splits, source = data.load()
    assert source.task == "mrpc" and source.kind == "local" and len(splits["validation"]) == 408
    monkeypatch.delenv("GLUE_DIR")
    monkeypatch.setattr(data, "load_hub", lambda name: (None, f"hub {name}"))
    assert data.load("rte") == (None, "hub rte")


def test_load_hub_defaults_to_mrpc(monkeypatch):
    import datasets

    from glue_repro import data

    monkeypatch.setattr(datasets, "load_dataset", lambda repo, config, revision=None: config)
    assert data.load_hub()[0] == "mrpc"


def test_describe_counts_rows_labels_and_unlabelled_rows(small_mrpc):
    from glue_repro import data

    splits, source = load_local(small_mrpc)
    described = data.describe(splits, source)
    assert described["task"] == "mrpc" and "task" not in described["source"]
    assert described["source"]["kind"] == "local"
    assert described["splits"]["train"] == {"rows": 3, "unlabelled": 0,
                                            "label_counts": {"not_equivalent": 2, "equivalent": 1}}
    _drop_quality_column(small_mrpc / "msr_paraphrase_test.txt")
    splits, source = load_local(small_mrpc)
    assert data.describe(splits, source)["splits"]["test"] == {"rows": 2, "unlabelled": 2,
                                                              "label_counts": {"not_equivalent": 0, "equivalent": 0}}


def test_cut_keeps_train_and_the_validation_splits_then_the_first_rows():
    import datasets

    from glue_repro import data

    def split(n):
        return datasets.Dataset.from_dict({"idx": list(range(n))})

    splits = datasets.DatasetDict(train=split(10), validation=split(6), test=split(4))
    spec = TASKS["mrpc"]
    whole = data.cut(splits, spec, None, None)
    assert list(whole) == ["train", "validation"] and (len(whole["train"]), len(whole["validation"])) == (10, 6)
    limited = data.cut(splits, spec, 5, None)
    assert limited["train"]["idx"] == [0, 1, 2, 3, 4] and limited["validation"]["idx"] == [0, 1, 2, 3, 4]
    assert data.cut(splits, spec, 8, None)["validation"]["idx"] == list(range(6))  # a limit past the end keeps all
    rows = data.cut(splits, spec, None, 3)
    assert rows["train"]["idx"] == [0, 1, 2] and len(rows["validation"]) == 6  # validation whole
    both = data.cut(splits, spec, 5, 12)
    assert len(both["train"]) == 5 and len(both["validation"]) == 5
    assert isinstance(both, datasets.DatasetDict)
    mnli = datasets.DatasetDict(train=split(3), validation_matched=split(2), validation_mismatched=split(2))
    assert list(data.cut(mnli, TASKS["mnli"], 1, None)) == ["train", "validation_matched", "validation_mismatched"]


def test_a_task_given_as_a_spec_is_used_as_given():
    import dataclasses

    from glue_repro import data

    renamed = dataclasses.replace(TASKS["rte"], name="my-rte")  # not in the table: no lookup by name
    assert data._spec(renamed) is renamed and data._spec("rte") is TASKS["rte"]


# QQP, QNLI and MNLI in the GLUE distribution's folders, read by the Hub builder's rules. The reference
# below states those rules on its own: csv.DictReader over tab-separated fields without quoting (a
# blank line is no row, extra fields go aside, missing ones read None), idx the row's number, a label
# that is not a class name read as an int, an empty one as None, and a row holding a None dropped.
def _as_the_builder_reads(path: Path, columns: dict, label_column: str, classes) -> list[dict]:
    import csv

    rows = []
    with open(path, encoding="utf8") as f:
        for n, record in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)):
            row = {hub: record[name] for hub, name in columns.items()} | {"idx": n}
            if label_column in record:
                label = record[label_column]
                row["label"] = (classes.index(label) if label in classes else int(label) if label else None)
            else:
                row["label"] = -1
            if None not in row.values():
                rows.append(row)
    return rows


@pytest.mark.parametrize("task", list(NEW_TASKS))
def test_qqp_qnli_and_mnli_read_from_glue_folders_as_the_hub_builder_reads_them(task, tmp_path):
    folder_name, columns, label_column, files = NEW_TASKS[task]
    folder = _task_folder(tmp_path, folder_name, files)
    spec = TASKS[task]
    splits, source = load_local(tmp_path, task)
    assert set(splits) == set(spec.local.files) and source.layout == "tsv"
    assert set(source.sha256) == set(files) and not source.checksums_verified  # no SHA256SUMS here
    for split, name in spec.local.files.items():
        want = _as_the_builder_reads(folder / name, columns, label_column, list(spec.label_names))
        assert splits[split].features == features(spec)
        assert splits[split].to_list() == [{c: r[c] for c in (*spec.text_columns, "label", "idx")} for r in want]
    some_dropped = {"qqp": "train", "qnli": "train", "mnli": "validation_matched"}[task]
    assert splits[some_dropped]["idx"] != list(range(len(splits[some_dropped])))  # dropped rows keep their numbers


def test_mnlis_two_validation_splits_keep_their_own_labels(tmp_path):
    _task_folder(tmp_path, "MNLI", NEW_TASKS["mnli"][3])
    splits, _ = load_local(tmp_path, "mnli")
    matched, mismatched = splits["validation_matched"], splits["validation_mismatched"]
    assert matched["label"] == [0, 1, 2] and mismatched["label"] == [1, 0, 2]
    assert all("walks" in p for p in matched["premise"]) and all("swims" in p for p in mismatched["premise"])


@pytest.mark.parametrize(("task", "file", "text", "message"), [
    ("qqp", "train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\tA?\tB?\tyes\n",
     "train.tsv line 2: label 'yes' is not one of 0, 1, not_duplicate, duplicate"),
    ("mnli", "dev_matched.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tneutral\n",
     "dev_matched.tsv line 1: missing column 'gold_label' (header: ['index', 'sentence1', 'sentence2', 'label'])"),
    ("qnli", "dev.tsv", "index\tquestion\tsentence\tlabel\n0\tWhy?\n", "dev.tsv: no data rows after the header"),
])
def test_bad_files_of_the_new_tasks_name_file_and_line(task, file, text, message, tmp_path):
    folder_name, _, _, files = NEW_TASKS[task]
    folder = _task_folder(tmp_path, folder_name, files | {file: text})
    with pytest.raises(GlueReproError) as err:
        load_local(tmp_path, task)
    assert str(err.value) == f"{folder / file}"[: -len(file)] + message


def test_a_local_copy_of_the_hub_repository_loads_each_config_as_the_glue_folder_gives_it(glue_dir, tmp_path):
    from glue_repro import data

    folders = {"rte": glue_dir, **{t: write_glue_folder(tmp_path / "glue", [t]) for t in ("qqp", "qnli", "mnli")}}
    expected = {task: load_local(folder, task)[0] for task, folder in folders.items()}
    copy = write_hub_copy(tmp_path / "glue-copy", expected)
    assert data.local_tasks(copy) == ["rte", "qqp", "qnli", "mnli"]
    for task, splits in expected.items():
        loaded, source = data.load(task, copy)
        assert source.layout == "hub-parquet" and source.location == str(copy.resolve())
        assert set(source.sha256) == {f"{split}-00000-of-00001.parquet" for split in splits}
        assert set(loaded) == set(splits)
        for split in splits:
            assert loaded[split].features == features(TASKS[task])
            assert loaded[split].to_list() == splits[split].to_list(), (task, split)
    shipped = data.bundle("mnli", copy)  # a sweep's worker gets the README and the config's files
    there, moved = data.load("mnli", shipped.unpack(tmp_path / "worker"))
    assert moved.sha256 == data.load("mnli", copy)[1].sha256 and there["validation_mismatched"]["label"] == [1, 0, 2]


def test_a_hub_copy_without_a_split_a_task_needs_is_one_line(tmp_path):
    splits = load_local(write_glue_folder(tmp_path / "glue", ["mnli"]), "mnli")[0]
    kept = {name: rows for name, rows in splits.items() if name != "validation_mismatched"}
    copy = write_hub_copy(tmp_path / "copy", {"mnli": kept})
    with pytest.raises(GlueReproError) as err:
        load_local(copy, "mnli")
    assert str(err.value) == (f"{copy / 'README.md'}: config 'mnli' has no validation_mismatched split "
                              f"(it has {', '.join(kept)})")


def _rename_columns(path, renames: dict):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    pq.write_table(table.rename_columns([renames.get(name, name) for name in table.column_names]), path)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda path: path.write_bytes(b"not parquet"), r"train-00000-of-00001.parquet: not a readable parquet file \("),
    (lambda path: path.write_bytes(path.read_bytes()[:-40]), r"train-00000-of-00001.parquet: not a readable parquet"),
    (lambda path: _rename_columns(path, {"question": "q"}),
     r"train-00000-of-00001.parquet: columns \['q', 'sentence', 'label', 'idx'\], not the Hub's \['question', "),
])
def test_a_bad_parquet_file_in_a_hub_copy_is_one_line_naming_it(damage, message, tmp_path):
    copy = write_hub_copy(tmp_path / "copy", {"qnli": load_local(write_glue_folder(tmp_path / "glue", ["qnli"]),
                                                                 "qnli")[0]})
    damage(copy / "qnli" / "train-00000-of-00001.parquet")
    with pytest.raises(GlueReproError, match=message) as err:
        load_local(copy, "qnli")
    assert str(err.value).startswith(str(copy / "qnli")) and "\n" not in str(err.value)


def test_data_command_describes_mnlis_five_splits_from_either_layout(tmp_path, capsys):
    from glue_repro import cli

    glue = write_glue_folder(tmp_path / "glue", ["mnli"])
    copy = write_hub_copy(tmp_path / "copy", {"mnli": load_local(glue, "mnli")[0]})
    for folder, layout in ((glue, "tsv files"), (copy, "hub-parquet files")):
        assert cli.main(["data", "--task", "mnli", "--data-dir", str(folder)]) == 0
        out = capsys.readouterr().out
        assert f"({layout})" in out and "no SHA256SUMS vouched for them" in out
        for split, counts in (("validation_matched", "entailment 1, neutral 1, contradiction 1"),
                              ("validation_mismatched", "entailment 1, neutral 1, contradiction 1"),
                              ("test_matched", "1 unlabelled"), ("test_mismatched", "1 unlabelled")):
            assert any(line.split()[0] == split and counts in line for line in out.splitlines()), (split, out)


def test_a_hub_copys_readme_is_cut_to_one_config_for_a_worker_keeping_everything_else(tmp_path):
    """A worker given one config's files gets the README's header with that config alone, in both lists
    the Hub's README keeps per config, the other keys and their order as they were, and the body whole."""
    import yaml

    from glue_repro import data

    header = {"pretty_name": "GLUE", "annotations_creators": ["other"],
              "dataset_info": [{"config_name": c, "features": [{"name": "label"}]} for c in ("cola", "rte", "sst2")],
              "configs": [{"config_name": c, "data_files": [{"split": "train", "path": f"{c}/train-*"}]}
                          for c in ("cola", "rte", "sst2")]}
    body = "# GLUE\n\nA table:\n---\n| a | b |\n"  # a --- in the body stays there
    readme = tmp_path / "README.md"
    readme.write_text(f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n{body}", encoding="utf-8")
    cut = data._one_config_readme(readme, "rte")
    _, kept, rest = cut.split("---\n", 2)
    assert rest == body
    meta = yaml.safe_load(kept)
    assert list(meta) == list(header)  # not re-sorted
    assert meta["configs"] == [header["configs"][1]] and meta["dataset_info"] == [header["dataset_info"][1]]
    assert meta["pretty_name"] == "GLUE" and meta["annotations_creators"] == ["other"]


def test_a_hub_copys_checksums_and_a_config_it_does_not_declare(tmp_path):
    from glue_repro import data

    copy = write_hub_copy(tmp_path / "copy", {"qnli": load_local(write_glue_folder(tmp_path / "glue", ["qnli"]),
                                                               "qnli")[0]})
    assert data.load("qnli", copy)[1].checksums_verified is False  # no SHA256SUMS: nothing vouches
    files = sorted(p.name for p in (copy / "qnli").glob("*.parquet"))
    (copy / "qnli" / "SHA256SUMS").write_text(sha256sums(copy / "qnli", files))
    assert data.load("qnli", copy)[1].checksums_verified is True
    readme = copy / "README.md"
    readme.write_text(readme.read_text().replace("config_name: qnli", "config_name: wnli"))
    with pytest.raises(GlueReproError) as err:
        load_local(copy, "qnli")
    assert str(err.value).startswith(f"{readme}: cannot load config 'qnli' from this copy of the Hub repository (")


def test_a_hub_copy_whose_labels_are_not_the_tasks_classes_is_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = write_hub_copy(tmp_path / "copy", {"qnli": load_local(write_glue_folder(tmp_path / "glue", ["qnli"]),
                                                               "qnli")[0]})
    for path in (copy / "qnli").glob("*.parquet"):  # labels as text, no Hugging Face features beside the rows
        table = pq.read_table(path).replace_schema_metadata(None)
        pq.write_table(table.set_column(table.column_names.index("label"), "label",
                                        pa.array([f"class {v}" for v in table["label"].to_pylist()])), path)
    with pytest.raises(GlueReproError) as err:
        load_local(copy, "qnli")
    assert str(err.value).startswith(f"{copy / 'qnli'}: train has columns ") and "not the Hub's {" in str(err.value)


def test_two_hub_copies_named_alike_each_load_their_own_rows(tmp_path):
    """`datasets` caches a local repository's rows under its folder's name and README: a second copy of that
    name, or a file changed in place, must not be read from the first one's cache."""
    glue = load_local(write_glue_folder(tmp_path / "glue", ["qnli"]), "qnli")[0]
    first = write_hub_copy(tmp_path / "a" / "copy", {"qnli": glue})
    flipped = {split: rows.map(lambda row: {"label": 1 - row["label"]}) if split == "train" else rows
               for split, rows in glue.items()}
    second = write_hub_copy(tmp_path / "b" / "copy", {"qnli": flipped})
    train = [load_local(copy, "qnli")[0]["train"]["label"] for copy in (first, second)]
    assert train == [glue["train"]["label"], [1 - v for v in glue["train"]["label"]]]

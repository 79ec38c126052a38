import hashlib

import pytest

from glue_repro.data import FEATURES, load_local
from glue_repro.errors import GlueReproError


def test_real_mrpc_counts_and_positives(mrpc):
    counts = {split: (len(ds), sum(ds["label"])) for split, ds in mrpc.items()}
    assert counts == {"train": (3668, 2474), "validation": (408, 279), "test": (1725, 1147)}


def test_real_mrpc_has_hub_schema_and_rows(mrpc):
    for split in mrpc.values():
        assert split.features == FEATURES
    assert FEATURES["label"].names == ["not_equivalent", "equivalent"]
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
    sums = {name: hashlib.sha256((small_mrpc / name).read_bytes()).hexdigest() for name in
            ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv")}
    (small_mrpc.parent / "SHA256SUMS").write_text("".join(f"{d}  ./MRPC/{n}\n" for n, d in sums.items()))
    assert load_local(small_mrpc.parent)[1].checksums_verified
    _replace_line(small_mrpc / "msr_paraphrase_test.txt", 2, "1\t50\t51\tBig dog .\tHuge dog .\n")
    with pytest.raises(GlueReproError, match=r"msr_paraphrase_test.txt: SHA-256 \w+ does not match"):
        load_local(small_mrpc.parent)


def test_malformed_checksum_file(small_mrpc):
    (small_mrpc / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(GlueReproError, match="SHA256SUMS line 1"):
        load_local(small_mrpc)


def test_missing_folder(tmp_path):
    with pytest.raises(GlueReproError, match=f"{tmp_path / 'nowhere'}: data folder does not exist"):
        load_local(tmp_path / "nowhere")


def test_folder_without_mrpc_files(tmp_path):
    with pytest.raises(GlueReproError, match="no MRPC files found"):
        load_local(tmp_path)


def test_not_utf8(small_mrpc):
    path = small_mrpc / "msr_paraphrase_train.txt"
    path.write_bytes(path.read_bytes() + b"1\t70\t71\t\xff\xfe\tx\n")
    with pytest.raises(GlueReproError, match="line 6: not valid UTF-8"):
        load_local(small_mrpc)

"""Small QQP, QNLI and MNLI files in the GLUE distribution's layout, with rows the Hub's builder drops:
task -> (folder, Hub column -> header name, label column, file -> text)."""

NEW_TASKS = {
    "qqp": ("QQP", {"question1": "question1", "question2": "question2"}, "is_duplicate", {
        "train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                     "0\t1\t2\tHow do I cook rice?\tWhat is the best way to cook rice?\t1\n"
                     "1\t3\t4\tIs the moon made of cheese?\n"  # a row cut short: dropped
                     "\n"  # a blank line: no row
                     "2\t5\t6\tWhy is the sky blue?\tWhat makes the sky blue?\t\n"  # no label: dropped
                     "3\t7\t8\tWho wrote Hamlet?\tWhat is 2 + 2?\t0\textra\n"  # a field too many: kept
                     "4\t9\t10\t\"Quoted\" question?\tAnother one?\t0\n",
        "dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tA?\tB?\t1\n4\t5\t6\tC?\tD?\t0\n",
        "test.tsv": "id\tquestion1\tquestion2\n0\tE?\tF?\n1\tG?\n2\tH?\tI?\n",
    }),
    "qnli": ("QNLI", {"question": "question", "sentence": "sentence"}, "label", {
        "train.tsv": "index\tquestion\tsentence\tlabel\n0\tWhat?\tThis.\tentailment\n1\tWhy?\tThat.\tnot_entailment\n"
                     "2\tWho?\n3\tWhen?\tThen.\tentailment\n",
        "dev.tsv": "index\tquestion\tsentence\tlabel\n0\tWhere?\tHere.\tnot_entailment\n",
        "test.tsv": "index\tquestion\tsentence\n0\tHow?\tSo.\n",
    }),
    "mnli": ("MNLI", {"premise": "sentence1", "hypothesis": "sentence2"}, "gold_label", {
        **{name: "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
                 f"0\t1\t1e\tfiction\tA man {kind}.\tSomeone {kind}.\tentailment\t{first}\n"
                 f"1\t2\t2n\tfiction\tThe {kind} dog.\tA cat.\tneutral\t{second}\n"
                 f"2\t3\t3c\tslate\tIt rains {kind}.\tIt is dry.\tcontradiction\t\n"  # no gold label: dropped
                 f"3\t4\t4c\tslate\tShort {kind}\n"  # cut short: dropped
                 f"4\t5\t5c\tslate\tSun {kind}.\tNo sun.\tcontradiction\tcontradiction\n"
           for name, kind, first, second in [("train.tsv", "runs", "entailment", "neutral"),
                                             ("dev_matched.tsv", "walks", "entailment", "neutral"),
                                             ("dev_mismatched.tsv", "swims", "neutral", "entailment")]},
        **{name: "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n0\t1\t1\tx\tP.\tH.\n"
           for name in ("test_matched.tsv", "test_mismatched.tsv")},
    }),
}


def write_glue_folder(root, tasks=tuple(NEW_TASKS)):
    """A GLUE folder holding these tasks' folders; returns it."""
    for task in tasks:
        folder_name, _, _, files = NEW_TASKS[task]
        (root / folder_name).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder_name / name).write_text(text, encoding="utf-8")
    return root


def write_hub_copy(root, splits_by_task: dict):
    """A local copy of the Hub's GLUE repository: a folder of parquet files per config, and a README.md
    whose YAML header declares each config's splits, as the repository's does. Returns it."""
    configs = []
    for task, splits in splits_by_task.items():
        (root / task).mkdir(parents=True, exist_ok=True)
        entries = []
        for split, rows in splits.items():
            rows.to_parquet(str(root / task / f"{split}-00000-of-00001.parquet"))
            entries.append(f"  - split: {split}\n    path: {task}/{split}-*")
        configs.append(f"- config_name: {task}\n  data_files:\n" + "\n".join(entries))
    (root / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n# GLUE, a local copy\n")
    return root


def sha256sums(folder, names, prefix: str = "", upper: bool = False) -> str:
    """A SHA256SUMS file's text for these files of `folder`, each listed as `prefix` + its name."""
    import hashlib

    digests = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}
    return "".join(f"{d.upper() if upper else d}  {prefix}{n}\n" for n, d in digests.items())

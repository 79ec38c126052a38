import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glue_repro import environment


def test_every_recorded_field_has_a_comment():
    source = inspect.getsource(environment)
    for cls in (environment.Device, environment.Git):
        for key in cls.__annotations__:
            assert any(line.strip().startswith(f"{key}:") and "#" in line for line in source.splitlines()), key


def test_environment_fields():
    import tensorflow  # noqa: F401  (the GPUs and oneDNN are probed only where TensorFlow is loaded)

    assert set(environment.versions()) == {"python", *environment.VERSIONED_PACKAGES}
    device = environment.device()
    assert device["cpu"] and device["cpu_cores"] >= 1 and isinstance(device["gpus"], list)
    git = environment.git_info()
    assert git["commit"] is None or len(git["commit"]) == 40


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def test_git_info_names_the_commit_and_whether_tracked_files_changed(tmp_path):
    assert environment.git_info(tmp_path) == {"commit": None, "dirty": None}  # not a repository
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert environment.git_info(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "new.txt").write_text("untracked")  # untracked files do not make it dirty
    assert environment.git_info(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert environment.git_info(tmp_path) == {"commit": head, "dirty": True}


def test_versions_say_which_packages_are_missing(monkeypatch):
    from importlib import metadata

    real = metadata.version

    def version(name):
        if name == "scipy":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    found = environment.versions()
    assert list(found) == ["python", *environment.VERSIONED_PACKAGES]
    assert found["scipy"] == "not installed" and found["numpy"] == real("numpy")


def test_device_names_each_gpu_and_the_cpu(monkeypatch):
    import tensorflow as tf

    class Gpu:
        def __init__(self, name):
            self.name = name

    gpus = [Gpu("/physical_device:GPU:0"), Gpu("/physical_device:GPU:1")]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"device_name": "NVIDIA H200"} if gpu is gpus[0] else {})
    info = environment.device()
    assert info["gpus"] == ["NVIDIA H200", "/physical_device:GPU:1"]  # the name TF gives when details lack one
    assert info["cpu"] == environment.cpu_model() and info["cpu_cores"] == len(os.sched_getaffinity(0))
    assert info["onednn"] == environment.onednn_enabled()


def test_cpu_model_is_the_model_name_line(monkeypatch, tmp_path):
    text = Path("/proc/cpuinfo").read_text()
    line = next(line for line in text.splitlines() if line.startswith("model name"))
    assert environment.cpu_model() == line.partition(":")[2].strip()

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Xeon: rev 3 @ 2.0GHz: B0\nflags\t: avx2\n")
    monkeypatch.setattr(environment, "CPUINFO", fake)
    assert environment.cpu_model() == "Xeon: rev 3 @ 2.0GHz: B0"  # colons in the name are kept

    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "no-proc-here")
    monkeypatch.setattr(environment.platform, "processor", lambda: "")
    assert environment.cpu_model() == environment.platform.machine()


def test_creation_times_are_utc():
    assert environment.now().endswith("+00:00") and len(environment.now()) == len("2026-11-29T12:00:00+00:00")


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n", True),
        ("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse avx2 fma\nvmx flags\t: amx_bf16\n", False),  # only the first flags line
        ("processor\t: 0\n", False),
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(cpuinfo, native, tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "cpuinfo")
    assert environment.cpu_has_native_bfloat16() is native
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "missing")
    assert environment.cpu_has_native_bfloat16() is False


@pytest.mark.parametrize(("model", "flags", "units"),
                         [("1", "avx2 fma", "AVX2"), ("17", "avx2 avx512f avx512_bf16", "AVX-512")])
def test_two_generations_sold_under_one_name_are_told_apart(model, flags, units, tmp_path, monkeypatch):
    """Zen 3 and Zen 4 both say "AMD EPYC": the device records family, model and vector units too."""
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
                                      f"model\t\t: {model}\nmodel name\t: AMD EPYC\nflags\t\t: fpu {flags}\n")
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "cpuinfo")
    device = environment.device()
    assert device["cpu"] == "AMD EPYC" and device["cpu_id"] == f"AuthenticAMD family 25 model {model}"
    assert device["vector_units"] == units
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "missing")
    assert environment.device()["cpu_id"] is None


@pytest.mark.parametrize("missing", ["vendor_id", "cpu family", "model"])
def test_a_cpu_id_needs_vendor_family_and_model_all_three(missing, tmp_path, monkeypatch):
    fields = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17"}
    (tmp_path / "cpuinfo").write_text("".join(f"{k}\t: {v}\n" for k, v in fields.items() if k != missing))
    monkeypatch.setattr(environment, "CPUINFO", tmp_path / "cpuinfo")
    assert environment.cpu_id() is None


def test_a_process_without_tensorflow_records_no_gpus_and_no_onednn_rather_than_loading_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    info = environment.device()
    assert info["gpus"] is None and info["onednn"] is None and info["cpu"] == environment.cpu_model()


def test_onednn_is_reported_as_the_environment_asked_for_it():
    import tensorflow  # noqa: F401

    assert environment.onednn_enabled() is (os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1")  # conftest asks for it


def test_this_machines_cpu_flags_are_read_from_proc():
    assert environment.CPUINFO == Path("/proc/cpuinfo")
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    native = bool({"amx_bf16", "avx512_bf16"} & set(flags.partition(":")[2].split()))
    assert environment.cpu_has_native_bfloat16() is native

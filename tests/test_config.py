import pytest
import torch

import skillkit
from skillkit import config


def test_scale_from_env(monkeypatch):
    monkeypatch.setenv("SKILLKIT_SCALE", "ci")
    assert config.get_scale() == "ci"
    assert config.by_scale(1, 2, 3) == 1
    monkeypatch.setenv("SKILLKIT_SCALE", "paper")
    assert config.by_scale(1, 2, 3) == 3
    assert config.by_scale(1, 2) == 2          # paper falls back to default
    monkeypatch.delenv("SKILLKIT_SCALE")
    assert config.get_scale() == "default"


def test_bad_scale_is_value_error(monkeypatch):
    monkeypatch.setenv("SKILLKIT_SCALE", "huge")
    with pytest.raises(ValueError, match=r"^SKILLKIT_SCALE"):
        skillkit.setup()


def test_device_override_and_one_line(monkeypatch, capsys):
    monkeypatch.setenv("SKILLKIT_DEVICE", "cpu")
    monkeypatch.setenv("SKILLKIT_SCALE", "default")
    cfg = skillkit.setup(seed=3)
    out = capsys.readouterr().out
    assert out == "device: cpu | scale: default\n"
    assert cfg.device == torch.device("cpu") and cfg.seed == 3
    assert cfg.pick(ci="a", default="b") == "b"


def test_bad_device_is_value_error(monkeypatch):
    monkeypatch.setenv("SKILLKIT_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match=r"^SKILLKIT_DEVICE"):
        skillkit.setup(verbose=False)


def test_seeding_is_reproducible():
    skillkit.setup(seed=7, verbose=False)
    a = torch.rand(5)
    skillkit.setup(seed=7, verbose=False)
    assert torch.equal(a, torch.rand(5))

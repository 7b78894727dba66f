"""Settings: defaults <- file <- environment; one clear line for any wrong or missing key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import SettingsError, load_settings


def test_defaults_load_and_are_frozen() -> None:
    settings = load_settings(environ={})
    assert settings.ami.port == 5038 and settings.dialplan.inbound_context == "hotline-inbound"
    with pytest.raises(AttributeError):
        settings.ami.port = 1  # type: ignore[misc]


def test_file_then_environment_override(tmp_path: Path) -> None:
    file = tmp_path / "site.toml"
    file.write_text('[ami]\nhost = "10.1.2.3"\nport = 6000\n')
    settings = load_settings(file, environ={"HOTLINE_AMI_PORT": "7000", "HOTLINE_AMI_PING_INTERVAL_S": "2.5"})
    assert settings.ami.host == "10.1.2.3"
    assert settings.ami.port == 7000
    assert settings.ami.ping_interval_s == 2.5


@pytest.mark.parametrize(
    ("toml", "environ", "key"),
    [
        ("[ami]\nprot = 1\n", {}, "ami.prot"),
        ('[ami]\nport = "x"\n', {}, "ami.port"),
        ("[amii]\nport = 1\n", {}, "amii"),
        ("", {"HOTLINE_AMI_PORT": "many"}, "ami.port"),
        ("", {"HOTLINE_AMI_NOPE": "1"}, "HOTLINE_AMI_NOPE"),
        ("", {"HOTLINE_NOSECTION_X": "1"}, "HOTLINE_NOSECTION_X"),
    ],
)
def test_a_bad_key_names_itself_in_one_line(
    tmp_path: Path, toml: str, environ: dict[str, str], key: str
) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(toml)
    with pytest.raises(SettingsError) as info:
        load_settings(file, environ=environ)
    message = str(info.value)
    assert "\n" not in message and key in message


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    defaults = Path(__file__).resolve().parents[2] / "config" / "hotline.toml"
    text = defaults.read_text().replace('username = "hotline"\nsecret', "secret", 1)
    broken = tmp_path / "defaults.toml"
    broken.write_text(text)
    with pytest.raises(SettingsError, match=r"ami\.username: missing"):
        load_settings(environ={}, defaults_path=broken)


def test_the_secret_is_never_shown(tmp_path: Path) -> None:
    settings = load_settings(environ={"HOTLINE_AMI_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert settings.ami.secret.reveal() == "s3cr3t-value"
    file = tmp_path / "bad.toml"
    file.write_text("[ami]\nsecret = 87654321\n")
    with pytest.raises(SettingsError) as info:
        load_settings(file, environ={})
    assert "ami.secret" in str(info.value) and "87654321" not in str(info.value)

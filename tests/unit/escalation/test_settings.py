"""``[escalation]``: the shipped defaults build the rules; a bad value fails start-up naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.alerting import build_rules
from hotline.escalation.errors import TaxonomyFlagError
from hotline.escalation.model import Level
from hotline.settings import SettingsError, load_settings


def test_the_shipped_settings_build_the_rules() -> None:
    settings = load_settings(environ={})
    rules = build_rules(settings.escalation, known_codes=None)
    assert [t.role for t in rules.roster.tiers] == ["shift_lead", "duty_manager", "centre_director"]
    assert rules.ivr_markers["urgent"] is Level.URGENT and rules.ivr_markers["sensitive"] is Level.SENSITIVE
    assert len(rules.taxonomy) == 3
    assert "secret" not in repr(settings.escalation).replace("secret=Secret('***')", "")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[escalation]\nrepeat_level = "loud"\n', "escalation.repeat_level"),
        ("[escalation]\nrepeat_calls = 1\n", "escalation.repeat_calls"),
        ("[escalation]\nhotspot_p_threshold = 1.5\n", "escalation.hotspot_p_threshold"),
        ('[escalation]\nrecording_template = "rec.wav"\n', "escalation.recording_template"),
        ("[escalation]\nroster = []\n", "escalation.roster"),
        ('[escalation]\nsecret = ""\n', "escalation.secret"),
        (
            '[[escalation.roster]]\nrole = "x"\nsupervisor = "1"\nack_timeout_s = 0\n',
            "escalation.roster[0].ack_timeout_s",
        ),
        ("[escalation]\nack_timeout = 5\n", "escalation.ack_timeout"),
    ],
)
def test_a_bad_escalation_value_is_named(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    assert info.value.key == key
    assert "\n" not in str(info.value)


def test_a_flag_on_a_node_the_taxonomy_lacks_fails_start_up() -> None:
    settings = load_settings(environ={})
    with pytest.raises(TaxonomyFlagError, match="no classification node '060301'"):
        build_rules(settings.escalation, known_codes={"01"})

"""``[mqtt]``: checked at start-up, one line naming the key; the password never shown."""

from __future__ import annotations

import pytest

from hotline.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("HOTLINE_MQTT_TOPIC_PREFIX", "hotline/#", "mqtt.topic_prefix"),
        ("HOTLINE_MQTT_TOPIC_PREFIX", "/hotline", "mqtt.topic_prefix"),
        ("HOTLINE_MQTT_PORT", "70000", "mqtt.port"),
        ("HOTLINE_MQTT_PRESENCE_GRACE_S", "-1", "mqtt.presence_grace_s"),
        ("HOTLINE_MQTT_RECONNECT_MAX_S", "0.1", "mqtt.reconnect_max_s"),
        ("HOTLINE_MQTT_ENABLED", "maybe", "mqtt.enabled"),
        ("HOTLINE_MQTT_HOSTNAME", "x", "no key 'hostname'"),
    ],
)
def test_a_bad_mqtt_setting_names_its_key(key: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ={key: value})
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_the_mqtt_password_is_never_shown() -> None:
    settings = load_settings(
        environ={"HOTLINE_MQTT_PASSWORD": "broker-s3cret", "HOTLINE_MQTT_ENABLED": "true"}
    )
    assert settings.mqtt.enabled is True
    assert settings.mqtt.password.reveal() == "broker-s3cret"
    assert "broker-s3cret" not in repr(settings)

"""MQTT: agents' desktops, supervisors and wallboards (see the README's contract table).

``contract`` is the topic tree and the payloads (sans I/O); ``service`` is the service's side
(commands in, state/offers/stats/outbox out, with its reconnect loop); ``desktop`` holds the
terminal clients ``hotline agent`` and ``hotline wallboard``.
"""

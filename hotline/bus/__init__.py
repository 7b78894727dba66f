"""MQTT: agents' desktops, supervisors and wallboards (see the README's contract table).

``contract`` is the topic tree and the payloads (sans I/O); ``figures`` what the queue figures
and screen-pops show (pure); ``alerts`` supervisors' alerts (through the store's outbox);
``service`` the service's side (commands in; replies, state, screen-pops, figures and the outbox
out; its reconnect loop); ``desktop`` the clients of the contract and ``terminal`` the line
interfaces ``hotline agent`` and ``hotline wallboard`` on them; ``broker`` a private mosquitto
for the demo, the tests and the benchmark.
"""

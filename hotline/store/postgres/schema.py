"""The PostgreSQL schema as an ordered list of migrations, tracked in ``schema_migrations``.

Versions are counted like SQLite's (:mod:`hotline.store.schema`) but the list is its own: P1
holds the tables of SQLite V1-V5 in PostgreSQL's types (``date``, ``double precision``,
``boolean``, ``jsonb``), P2 what several instances on one database need.  Migration N runs in
one transaction with its row in ``schema_migrations``, under an advisory lock, so instances
starting together migrate once.  Never edit a released migration: append one (and mirror each
new SQLite migration here).
"""

from __future__ import annotations

#: Key of the advisory lock held while migrating.
MIGRATION_LOCK = 0x12345_0001

P1_BASE = """
-- Tickets and clocks are updated in place all their life (transitions, SLA marks): room left in
-- each page lets an update that changes no indexed column stay on its page (a HOT update: no
-- index entry written, far less WAL).
CREATE TABLE tickets (
    id                bigint PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    accepted_on       date NOT NULL,
    day_seq           integer NOT NULL,
    created_at        double precision NOT NULL,
    updated_at        double precision NOT NULL,
    channel           text NOT NULL,
    ticket_type       text NOT NULL,
    classification    text NOT NULL,
    department        text NOT NULL,
    occurred          text NOT NULL,
    location          text NOT NULL,
    description       text NOT NULL,
    current_situation text NOT NULL,
    request           text NOT NULL,
    respondent        text NOT NULL,
    citizen_name      text NOT NULL,
    citizen_number    text NOT NULL,
    state             text NOT NULL,
    version           integer NOT NULL,
    round             integer NOT NULL,
    duplicate_of      text,
    provisional       boolean NOT NULL,
    supervision_count integer NOT NULL,
    extension_count   integer NOT NULL,
    extension_days    integer NOT NULL,
    dispatched_at     double precision,
    satisfaction      text,
    closed_at         double precision,
    UNIQUE (accepted_on, day_seq)
) WITH (fillfactor = 85);
CREATE INDEX tickets_open_by_caller ON tickets (citizen_number) WHERE state <> 'closed';
CREATE INDEX tickets_created_at ON tickets (created_at);
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE deadlines (
    ticket_id      bigint NOT NULL REFERENCES tickets (id),
    round          integer NOT NULL,
    kind           text NOT NULL,
    start_on       date NOT NULL,
    working_days   integer,
    months         integer,
    extension_days integer NOT NULL,
    due_on         date NOT NULL,
    due_at         double precision NOT NULL,
    warn_at        double precision NOT NULL,
    provisional    boolean NOT NULL,
    unknown_years  text NOT NULL,
    met_at         double precision,
    warned_at      double precision,
    breached_at    double precision,
    next_check_at  double precision,
    version        integer NOT NULL,
    PRIMARY KEY (ticket_id, round, kind)
) WITH (fillfactor = 85);
-- The SLA sweep reads only open clocks: a partial index holds them and nothing else.
CREATE INDEX deadlines_next_check ON deadlines (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX deadlines_provisional ON deadlines (ticket_id) WHERE provisional AND met_at IS NULL;
CREATE INDEX deadlines_due_on ON deadlines (due_on);

CREATE TABLE ticket_links (
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    call_id   text NOT NULL,
    role      text NOT NULL,
    at        double precision NOT NULL,
    actor     text NOT NULL,
    external  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (ticket_id, call_id)
);
CREATE INDEX ticket_links_call ON ticket_links (call_id);

CREATE TABLE transitions (
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    seq        integer NOT NULL,
    at         double precision NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    from_state text,
    to_state   text NOT NULL,
    reason     text NOT NULL,
    detail     jsonb NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);
CREATE INDEX transitions_action_at ON transitions (action, at);

CREATE TABLE call_records (
    call_id            text PRIMARY KEY,
    direction          text NOT NULL,
    caller_number      text NOT NULL,
    dnis               text NOT NULL,
    arrived_at         double precision,
    offered_at         double precision,
    answered_at        double precision,
    ended_at           double precision,
    wait_s             double precision,
    talk_s             double precision,
    agent_id           text,
    outcome            text,
    escalated          boolean NOT NULL,
    escalation_reasons text NOT NULL,
    recording_ref      text,
    callback_id        bigint,
    updated_at         double precision NOT NULL,
    state              text,
    priority           text,
    offers             integer,
    end_uncertain      boolean NOT NULL DEFAULT false,
    last_seen_at       double precision,
    callback_queue_id  text
);
CREATE INDEX call_records_arrived_at ON call_records (arrived_at);
CREATE INDEX call_records_live ON call_records (state) WHERE state IS NOT NULL AND state <> 'ended';

CREATE TABLE callbacks (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    number          text NOT NULL,
    ticket_id       bigint REFERENCES tickets (id),
    origin_call_id  text,
    created_at      double precision NOT NULL,
    due_at          double precision NOT NULL,
    window_start    text NOT NULL,
    window_end      text NOT NULL,
    attempts        integer NOT NULL,
    max_attempts    integer NOT NULL,
    retry_spacing_s double precision NOT NULL,
    status          text NOT NULL,
    outcome         text,
    updated_at      double precision NOT NULL,
    queue_id        text
);
CREATE INDEX callbacks_open ON callbacks (due_at) WHERE status IN ('pending', 'in_progress');
CREATE INDEX callbacks_ticket ON callbacks (ticket_id) WHERE ticket_id IS NOT NULL;

CREATE TABLE callback_attempts (
    id          bigserial PRIMARY KEY,
    callback_id bigint NOT NULL REFERENCES callbacks (id),
    at          double precision NOT NULL,
    outcome     text NOT NULL,
    dial_status text NOT NULL,
    call_id     text,
    counted     boolean NOT NULL
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id);

CREATE TABLE agent_states (
    agent_id      text PRIMARY KEY,
    state         text NOT NULL,
    reason        text,
    since         double precision NOT NULL,
    work          text,
    wrap_up_until double precision
);

CREATE TABLE queue_heartbeat (
    id integer PRIMARY KEY CHECK (id = 1),
    at double precision NOT NULL
);

CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
-- Every ticket-creating transaction locks this row first: it serialises them across instances.
INSERT INTO counters (name, value) VALUES ('ticket_id', 0);

CREATE TABLE ticket_attention (
    ticket_id   bigint PRIMARY KEY REFERENCES tickets (id),
    reason      text NOT NULL,
    at          double precision NOT NULL,
    callback_id bigint
);
"""

#: Several instances on one database: agents, live calls and the PBX heartbeat belong to one
#: instance (``instance_id`` in their keys); call records and tickets carry the instance (the
#: centre) that wrote them; a callback is dialled by the instance holding its lease.
P2_INSTANCES = """
ALTER TABLE call_records ADD COLUMN instance_id text NOT NULL DEFAULT '';
CREATE INDEX call_records_instance_live ON call_records (instance_id, state)
    WHERE state IS NOT NULL AND state <> 'ended';
ALTER TABLE tickets ADD COLUMN centre text NOT NULL DEFAULT '';
CREATE INDEX tickets_centre ON tickets (centre, id);

ALTER TABLE agent_states ADD COLUMN instance_id text NOT NULL DEFAULT '';
ALTER TABLE agent_states DROP CONSTRAINT agent_states_pkey;
ALTER TABLE agent_states ADD PRIMARY KEY (instance_id, agent_id);

DROP TABLE queue_heartbeat;
CREATE TABLE queue_heartbeat (
    instance_id text PRIMARY KEY,
    at          double precision NOT NULL
);

ALTER TABLE callbacks ADD COLUMN owner text;
ALTER TABLE callbacks ADD COLUMN lease_until timestamptz;
"""

#: SQLite's V_OUTBOX: messages for the MQTT bus, written in the transaction of the change they
#: announce; here also claimed (``claimed_by`` until ``claim_until``) by the one instance that
#: publishes them, so each is published once whichever instance wrote it.
P3_OUTBOX = """
CREATE INDEX tickets_by_caller ON tickets (citizen_number, id);
CREATE TABLE outbox (
    seq         bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    kind        text NOT NULL,
    topic       text NOT NULL,
    payload     text NOT NULL,
    created_at  double precision NOT NULL,
    claimed_by  text,
    claim_until timestamptz
);
"""

#: SQLite's ESCALATIONS (issue 11), the same tables.
P4_ESCALATIONS = """
CREATE TABLE escalations (
    alert_id        text PRIMARY KEY,
    kind            text NOT NULL,
    level           text NOT NULL,
    reasons         text NOT NULL,
    raised_at       double precision NOT NULL,
    tier            integer NOT NULL,
    deadline_at     double precision,
    state           text NOT NULL,
    call_id         text,
    ticket_id       text,
    incident_id     text,
    acknowledged_by text,
    acknowledged_at double precision,
    reescalations   integer NOT NULL,
    updated_at      double precision NOT NULL
);
CREATE INDEX escalations_open ON escalations (state) WHERE state <> 'acknowledged';
CREATE INDEX escalations_raised_at ON escalations (raised_at);
CREATE INDEX escalations_call ON escalations (call_id);

CREATE TABLE escalation_signals (
    id        bigserial PRIMARY KEY,
    alert_id  text NOT NULL REFERENCES escalations (alert_id),
    at        double precision NOT NULL,
    source    text NOT NULL,
    level     text NOT NULL,
    detail    text NOT NULL,
    call_id   text,
    ticket_id text
);
CREATE INDEX escalation_signals_alert ON escalation_signals (alert_id);

CREATE TABLE escalation_events (
    id         bigserial PRIMARY KEY,
    alert_id   text NOT NULL REFERENCES escalations (alert_id),
    at         double precision NOT NULL,
    event      text NOT NULL,
    tier       integer NOT NULL,
    role       text NOT NULL,
    supervisor text NOT NULL
);
CREATE INDEX escalation_events_alert ON escalation_events (alert_id);

CREATE TABLE incidents (
    incident_id    text PRIMARY KEY,
    classification text NOT NULL,
    place          text NOT NULL,
    opened_at      double precision NOT NULL,
    count          integer NOT NULL,
    baseline       double precision NOT NULL,
    p_value        double precision NOT NULL,
    last_ticket_at double precision NOT NULL,
    closed_at      double precision
);

CREATE TABLE incident_tickets (
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    ticket_id   text NOT NULL,
    at          double precision NOT NULL,
    PRIMARY KEY (incident_id, ticket_id)
);
CREATE INDEX incident_tickets_ticket ON incident_tickets (ticket_id);

CREATE TABLE watch_list (
    digest   text PRIMARY KEY,
    level    text NOT NULL,
    reason   text NOT NULL,
    added_at double precision NOT NULL
);
"""

#: SQLite's V_AGENT_STATE_LOG: every agent state change, for the reports (per instance here).
P5_AGENT_STATE_LOG = """
CREATE TABLE agent_state_log (
    id          bigserial PRIMARY KEY,
    instance_id text NOT NULL DEFAULT '',
    agent_id    text NOT NULL,
    state       text NOT NULL,
    reason      text,
    at          double precision NOT NULL
);
CREATE INDEX agent_state_log_at ON agent_state_log (at);
CREATE INDEX agent_state_log_agent_at ON agent_state_log (instance_id, agent_id, at);
"""

#: Migration N is ``MIGRATIONS[N - 1]``.
MIGRATIONS: tuple[str, ...] = (P1_BASE, P2_INSTANCES, P3_OUTBOX, P4_ESCALATIONS, P5_AGENT_STATE_LOG)
SCHEMA_VERSION = len(MIGRATIONS)

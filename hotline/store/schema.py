"""The database schema as an ordered list of migrations, tracked with ``PRAGMA user_version``.

Migration N (1-based) takes a database at version N-1 to version N.  Each runs in one transaction
together with its ``user_version`` update, so a crash leaves the file at a whole version.  A file
written by an older program is upgraded in place when the store opens it; a file from a newer
program is refused.  Never edit a released migration: append a new one.
"""

from __future__ import annotations

V1_TICKETS = """
CREATE TABLE tickets (
    id                INTEGER PRIMARY KEY,
    number            TEXT NOT NULL UNIQUE,
    accepted_on       TEXT NOT NULL,
    day_seq           INTEGER NOT NULL,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    channel           TEXT NOT NULL,
    ticket_type       TEXT NOT NULL,
    classification    TEXT NOT NULL,
    department        TEXT NOT NULL,
    occurred          TEXT NOT NULL,
    location          TEXT NOT NULL,
    description       TEXT NOT NULL,
    current_situation TEXT NOT NULL,
    request           TEXT NOT NULL,
    respondent        TEXT NOT NULL,
    citizen_name      TEXT NOT NULL,
    citizen_number    TEXT NOT NULL,
    state             TEXT NOT NULL,
    version           INTEGER NOT NULL,
    round             INTEGER NOT NULL,
    duplicate_of      TEXT,
    provisional       INTEGER NOT NULL,
    supervision_count INTEGER NOT NULL,
    extension_count   INTEGER NOT NULL,
    extension_days    INTEGER NOT NULL,
    dispatched_at     REAL,
    satisfaction      TEXT,
    closed_at         REAL,
    UNIQUE (accepted_on, day_seq)
);
CREATE INDEX tickets_open_by_caller ON tickets (citizen_number) WHERE state <> 'closed';
CREATE INDEX tickets_created_at ON tickets (created_at);
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE deadlines (
    ticket_id      INTEGER NOT NULL REFERENCES tickets (id),
    round          INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    start_on       TEXT NOT NULL,
    working_days   INTEGER,
    months         INTEGER,
    extension_days INTEGER NOT NULL,
    due_on         TEXT NOT NULL,
    due_at         REAL NOT NULL,
    warn_at        REAL NOT NULL,
    provisional    INTEGER NOT NULL,
    unknown_years  TEXT NOT NULL,
    met_at         REAL,
    warned_at      REAL,
    breached_at    REAL,
    next_check_at  REAL,
    version        INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, round, kind)
) WITHOUT ROWID;
CREATE INDEX deadlines_next_check ON deadlines (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX deadlines_provisional ON deadlines (ticket_id) WHERE provisional = 1 AND met_at IS NULL;
CREATE INDEX deadlines_due_on ON deadlines (due_on);

CREATE TABLE ticket_links (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    call_id   TEXT NOT NULL,
    role      TEXT NOT NULL,
    at        REAL NOT NULL,
    actor     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, call_id)
) WITHOUT ROWID;
CREATE INDEX ticket_links_call ON ticket_links (call_id);

CREATE TABLE transitions (
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
    seq        INTEGER NOT NULL,
    at         REAL NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;
CREATE INDEX transitions_action_at ON transitions (action, at);
"""

V2_QUEUE = """
CREATE TABLE call_records (
    call_id            TEXT PRIMARY KEY,
    direction          TEXT NOT NULL,
    caller_number      TEXT NOT NULL,
    dnis               TEXT NOT NULL,
    arrived_at         REAL,
    offered_at         REAL,
    answered_at        REAL,
    ended_at           REAL,
    wait_s             REAL,
    talk_s             REAL,
    agent_id           TEXT,
    outcome            TEXT,
    escalated          INTEGER NOT NULL,
    escalation_reasons TEXT NOT NULL,
    recording_ref      TEXT,
    callback_id        INTEGER,
    updated_at         REAL NOT NULL
);
CREATE INDEX call_records_arrived_at ON call_records (arrived_at);

CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    number          TEXT NOT NULL,
    ticket_id       INTEGER REFERENCES tickets (id),
    origin_call_id  TEXT,
    created_at      REAL NOT NULL,
    due_at          REAL NOT NULL,
    window_start    TEXT NOT NULL,
    window_end      TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    max_attempts    INTEGER NOT NULL,
    retry_spacing_s REAL NOT NULL,
    status          TEXT NOT NULL,
    outcome         TEXT,
    updated_at      REAL NOT NULL
);
CREATE INDEX callbacks_open ON callbacks (due_at) WHERE status IN ('pending', 'in_progress');
CREATE INDEX callbacks_ticket ON callbacks (ticket_id) WHERE ticket_id IS NOT NULL;

CREATE TABLE callback_attempts (
    id          INTEGER PRIMARY KEY,
    callback_id INTEGER NOT NULL REFERENCES callbacks (id),
    at          REAL NOT NULL,
    outcome     TEXT NOT NULL,
    dial_status TEXT NOT NULL,
    call_id     TEXT,
    counted     INTEGER NOT NULL
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id);

CREATE TABLE agent_states (
    agent_id TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    reason   TEXT,
    since    REAL NOT NULL
);
"""

#: The queue's own name for a callback it scheduled (the ``HOTLINE_CALLBACK_ID`` its calls
#: carry), so a restart can recognise a callback's call still running on the PBX.
V3_CALLBACK_QUEUE_ID = """
ALTER TABLE callbacks ADD COLUMN queue_id TEXT;
"""

#: Call records written ahead (at arrival, then field by field) with the live state a restart
#: picks up; agents' work and wrap-up deadline; the instant the service last saw the PBX; and
#: the queue id of open callbacks written before V3 (the id their calls carry).
V4_WRITE_AHEAD = """
ALTER TABLE call_records ADD COLUMN state TEXT;
ALTER TABLE call_records ADD COLUMN priority TEXT;
ALTER TABLE call_records ADD COLUMN offers INTEGER;
ALTER TABLE call_records ADD COLUMN end_uncertain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE call_records ADD COLUMN last_seen_at REAL;
ALTER TABLE call_records ADD COLUMN callback_queue_id TEXT;
CREATE INDEX call_records_live ON call_records (state) WHERE state IS NOT NULL AND state <> 'ended';
ALTER TABLE agent_states ADD COLUMN work TEXT;
ALTER TABLE agent_states ADD COLUMN wrap_up_until REAL;
CREATE TABLE queue_heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
UPDATE callbacks
   SET queue_id = CASE WHEN kind = 'return_call' AND origin_call_id IS NOT NULL
                       THEN 'rc-' || origin_call_id ELSE 'cb-' || id END
 WHERE queue_id IS NULL AND status IN ('pending', 'in_progress');
"""

#: Ticket ids and per-day ticket numbers are allocated by the database, inside the transaction
#: that inserts the ticket (any number of processes may create tickets on one file): one counter
#: row per sequence (``ticket_id``, ``day:2026-12-01``), seeded from the tickets already there.
#: ``ticket_attention``: tickets a person must look at (a follow-up that cannot be dialled never
#: closes a ticket by itself).  ``ticket_links.external``: a call id that is not one of this
#: hotline's call records (linked on purpose).
V5_TICKET_COUNTERS = """
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) SELECT 'ticket_id', coalesce(max(id), 0) FROM tickets;
INSERT INTO counters (name, value)
    SELECT 'day:' || accepted_on, max(day_seq) FROM tickets GROUP BY accepted_on;

CREATE TABLE ticket_attention (
    ticket_id   INTEGER PRIMARY KEY REFERENCES tickets (id),
    reason      TEXT NOT NULL,
    at          REAL NOT NULL,
    callback_id INTEGER
);

ALTER TABLE ticket_links ADD COLUMN external INTEGER NOT NULL DEFAULT 0;
"""

#: Messages that must reach the MQTT bus (ticket events, escalation alerts), written in the same
#: transaction as the change they announce and deleted once the broker acknowledged them; and an
#: index for the screen-pop's "this caller's tickets, newest first", closed ones included (the
#: existing caller index holds open tickets only).
V_OUTBOX = """
CREATE INDEX tickets_by_caller ON tickets (citizen_number, id);
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

#: Escalations (issue 11): alerts to supervisors, their signals and acknowledgement history,
#: hot-spot incidents and their tickets, and the watch list (keyed hashes only, never numbers).
ESCALATIONS = """
CREATE TABLE escalations (
    alert_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    level           TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    raised_at       REAL NOT NULL,
    tier            INTEGER NOT NULL,
    deadline_at     REAL,
    state           TEXT NOT NULL,
    call_id         TEXT,
    ticket_id       TEXT,
    incident_id     TEXT,
    acknowledged_by TEXT,
    acknowledged_at REAL,
    reescalations   INTEGER NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX escalations_open ON escalations (state) WHERE state != 'acknowledged';
CREATE INDEX escalations_raised_at ON escalations (raised_at);
CREATE INDEX escalations_call ON escalations (call_id);

CREATE TABLE escalation_signals (
    id        INTEGER PRIMARY KEY,
    alert_id  TEXT NOT NULL REFERENCES escalations (alert_id),
    at        REAL NOT NULL,
    source    TEXT NOT NULL,
    level     TEXT NOT NULL,
    detail    TEXT NOT NULL,
    call_id   TEXT,
    ticket_id TEXT
);
CREATE INDEX escalation_signals_alert ON escalation_signals (alert_id);

CREATE TABLE escalation_events (
    id         INTEGER PRIMARY KEY,
    alert_id   TEXT NOT NULL REFERENCES escalations (alert_id),
    at         REAL NOT NULL,
    event      TEXT NOT NULL,
    tier       INTEGER NOT NULL,
    role       TEXT NOT NULL,
    supervisor TEXT NOT NULL
);
CREATE INDEX escalation_events_alert ON escalation_events (alert_id);

CREATE TABLE incidents (
    incident_id    TEXT PRIMARY KEY,
    classification TEXT NOT NULL,
    place          TEXT NOT NULL,
    opened_at      REAL NOT NULL,
    count          INTEGER NOT NULL,
    baseline       REAL NOT NULL,
    p_value        REAL NOT NULL,
    last_ticket_at REAL NOT NULL,
    closed_at      REAL
);

CREATE TABLE incident_tickets (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    ticket_id   TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (incident_id, ticket_id)
);
CREATE INDEX incident_tickets_ticket ON incident_tickets (ticket_id);

CREATE TABLE watch_list (
    digest   TEXT PRIMARY KEY,
    level    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    added_at REAL NOT NULL
);
"""

#: Reports (issue 13): every agent state change, appended (``agent_states`` keeps only the last
#: one per agent), so time ready, paused per reason, wrap-up and ring-no-answer can be counted.
V_AGENT_STATE_LOG = """
CREATE TABLE agent_state_log (
    id       INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    state    TEXT NOT NULL,
    reason   TEXT,
    at       REAL NOT NULL
);
CREATE INDEX agent_state_log_at ON agent_state_log (at);
CREATE INDEX agent_state_log_agent_at ON agent_state_log (agent_id, at);
"""

#: Migration N is ``MIGRATIONS[N - 1]``.
MIGRATIONS: tuple[str, ...] = (
    V1_TICKETS,
    V2_QUEUE,
    V3_CALLBACK_QUEUE_ID,
    V4_WRITE_AHEAD,
    V5_TICKET_COUNTERS,
    V_OUTBOX,
    ESCALATIONS,
    V_AGENT_STATE_LOG,
)
SCHEMA_VERSION = len(MIGRATIONS)

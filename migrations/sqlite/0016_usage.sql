-- DATA-1, DATA-2: usage events, as services send them. No raw address and
-- no cross-service identifier: `visitor` is the hash of the day (salt of
-- the day, service, truncated address, user agent), NULL when the event
-- came without an address or after its day's salt was destroyed.
CREATE TABLE usage_events (
    id          INTEGER PRIMARY KEY,
    service_id  INTEGER NOT NULL REFERENCES services(id),
    type        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    -- The Paris day of occurred_at (aggregates, purge after 25 months).
    day         TEXT NOT NULL,
    page        TEXT,
    feature     TEXT,
    -- INSEE code of a member commune, when the service knew it.
    commune     TEXT,
    visitor     TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX usage_events_day ON usage_events(day);
-- DATA-3: the aggregates are refreshed for the days that received events
-- since the last refresh.
CREATE INDEX usage_events_received ON usage_events(received_at);

-- DATA-2: the salt of the day, in the database only during its day (nodes
-- share it); the daily job deletes the salts of past days.
CREATE TABLE usage_salts (
    day  TEXT PRIMARY KEY,
    salt TEXT NOT NULL
);

-- DATA-3: daily aggregates per service, commune ('' when unknown) and event
-- type. visitors: distinct visitors of the day; visits: their visits (a
-- visit ends after 30 minutes without an event).
CREATE TABLE usage_daily (
    day        TEXT NOT NULL,
    service_id INTEGER NOT NULL REFERENCES services(id),
    commune    TEXT NOT NULL,
    type       TEXT NOT NULL,
    events     INTEGER NOT NULL,
    visitors   INTEGER NOT NULL,
    visits     INTEGER NOT NULL,
    PRIMARY KEY (day, service_id, commune, type)
);

-- One row: when the aggregates were last refreshed (its lock also keeps
-- two nodes from refreshing at once).
CREATE TABLE usage_aggregator (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    refreshed_at INTEGER NOT NULL
);
INSERT INTO usage_aggregator (id, refreshed_at) VALUES (1, 0);

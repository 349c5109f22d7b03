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

-- DATA-2: the salt of the day, in the database only during its day (nodes
-- share it); the daily job deletes the salts of past days.
CREATE TABLE usage_salts (
    day  TEXT PRIMARY KEY,
    salt TEXT NOT NULL
);

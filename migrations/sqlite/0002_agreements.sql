-- Framework agreements and what happens to them (CONV-3 to CONV-9), SYNTEC
-- values (FIN-1), services' default terms (CONV-2, FIN-6), and once-a-day
-- jobs (OPS-5). Keep in step with migrations/postgres/0002_agreements.sql.

-- The services' default annex terms, copied into each annex when it is made.
ALTER TABLE services ADD COLUMN pricing TEXT NOT NULL DEFAULT '{"model":"free"}';
ALTER TABLE services ADD COLUMN s0 TEXT NOT NULL DEFAULT '100';
ALTER TABLE services ADD COLUMN fixed_part TEXT NOT NULL DEFAULT '0';
ALTER TABLE services ADD COLUMN prorata TEXT NOT NULL DEFAULT 'whole';

CREATE TABLE syntec_values (
    month        TEXT PRIMARY KEY,
    value        TEXT NOT NULL,
    published_on TEXT NOT NULL,
    exact        INTEGER NOT NULL DEFAULT 1 CHECK (exact IN (0, 1)),
    created_at   INTEGER NOT NULL
);

CREATE TABLE agreements (
    id                   INTEGER PRIMARY KEY,
    commune_id           INTEGER NOT NULL REFERENCES organisations(id),
    commune_signed_on    TEXT,
    metropolis_signed_on TEXT,
    ended_on             TEXT,
    end_reason           TEXT CHECK (end_reason IN ('notice', 'commune_breach', 'metropolis_breach')),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX agreements_commune ON agreements(commune_id);

-- Joining or leaving a service after signature (CONV-4).
CREATE TABLE amendments (
    id                   INTEGER PRIMARY KEY,
    agreement_id         INTEGER NOT NULL REFERENCES agreements(id),
    kind                 TEXT NOT NULL CHECK (kind IN ('join', 'leave')),
    service_id           INTEGER NOT NULL REFERENCES services(id),
    effective_on         TEXT NOT NULL,
    commune_signed_on    TEXT,
    metropolis_signed_on TEXT,
    units                TEXT,
    created_at           INTEGER NOT NULL
);

-- One annex per service joined; `start_on` NULL: from the agreement's
-- effective date (annexes of the initial agreement).
CREATE TABLE annexes (
    id                     INTEGER PRIMARY KEY,
    agreement_id           INTEGER NOT NULL REFERENCES agreements(id),
    service_id             INTEGER NOT NULL REFERENCES services(id),
    start_on               TEXT,
    end_on                 TEXT,
    end_reason             TEXT CHECK (end_reason IN ('notice', 'commune_breach', 'metropolis_breach')),
    pricing                TEXT NOT NULL,
    s0                     TEXT NOT NULL,
    fixed_part             TEXT NOT NULL,
    prorata                TEXT NOT NULL,
    units                  TEXT,
    previous_annual_amount TEXT,
    joined_by              INTEGER REFERENCES amendments(id),
    left_by                INTEGER REFERENCES amendments(id),
    created_at             INTEGER NOT NULL
);
CREATE INDEX annexes_agreement ON annexes(agreement_id);

-- CONV-5: notices of termination, by registered letter.
CREATE TABLE termination_notices (
    id            INTEGER PRIMARY KEY,
    agreement_id  INTEGER NOT NULL REFERENCES agreements(id),
    from_party    TEXT NOT NULL CHECK (from_party IN ('commune', 'metropolis')),
    received_on   TEXT NOT NULL,
    ends_on       TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- CONV-6: formal notices (mises en demeure).
CREATE TABLE breach_notices (
    id            INTEGER PRIMARY KEY,
    agreement_id  INTEGER NOT NULL REFERENCES agreements(id),
    from_party    TEXT NOT NULL CHECK (from_party IN ('commune', 'metropolis')),
    sent_on       TEXT NOT NULL,
    grounds       TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- CONV-8: written claims.
CREATE TABLE disputes (
    id            INTEGER PRIMARY KEY,
    agreement_id  INTEGER NOT NULL REFERENCES agreements(id),
    claimant      TEXT NOT NULL CHECK (claimant IN ('commune', 'metropolis')),
    received_on   TEXT NOT NULL,
    subject       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected', 'deemed_rejected')),
    decided_on    TEXT,
    decision      TEXT,
    created_at    INTEGER NOT NULL
);

-- CONV-9: referents. `service_id` set: the commune's referent for that
-- service; NULL at the metropolis: the project referent or support contact.
CREATE TABLE referents (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    service_id      INTEGER REFERENCES services(id),
    kind            TEXT NOT NULL CHECK (kind IN ('service', 'project', 'support')),
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX referents_one ON referents(organisation_id, kind, COALESCE(service_id, 0));

CREATE TABLE steering_committees (
    id         INTEGER PRIMARY KEY,
    held_on    TEXT NOT NULL,
    attendees  TEXT NOT NULL,
    minutes    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- OPS-5: a scheduled job runs once a day across all nodes: the node that
-- inserts the row does the work, in the same transaction.
CREATE TABLE scheduled_runs (
    job     TEXT NOT NULL,
    day     TEXT NOT NULL,
    ran_at  INTEGER NOT NULL,
    PRIMARY KEY (job, day)
);

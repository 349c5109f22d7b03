-- User assistance (SAU-1 to SAU-4). Keep in step with
-- migrations/postgres/0009_assistance.sql.

-- SAU-2: each service's competence matrix, with each category's deadlines
-- in French working days (SAU-3).
CREATE TABLE help_categories (
    service_id        INTEGER NOT NULL REFERENCES services(id),
    code              TEXT NOT NULL,
    label             TEXT NOT NULL,
    competence        TEXT NOT NULL CHECK (competence IN ('metropolis', 'commune')),
    first_answer_days INTEGER NOT NULL CHECK (first_answer_days > 0),
    resolution_days   INTEGER NOT NULL CHECK (resolution_days > 0),
    PRIMARY KEY (service_id, code)
);

-- SAU-4: references are numbered per year; the counter row is updated in
-- the transaction that creates the request, so two requests never share a
-- number, whatever the number of nodes.
CREATE TABLE help_request_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE help_requests (
    id                   INTEGER PRIMARY KEY,
    reference            TEXT NOT NULL UNIQUE,
    -- SHA-256 of the secret tracking token (SAU-4).
    tracking_hash        TEXT NOT NULL UNIQUE,
    service_id           INTEGER NOT NULL REFERENCES services(id),
    category             TEXT NOT NULL,
    subject              TEXT NOT NULL,
    page_url             TEXT,
    requester_email      TEXT NOT NULL,
    requester_account_id INTEGER REFERENCES accounts(id),
    -- INSEE code of the requester's commune, when known.
    requester_commune    TEXT,
    -- Where it is now (SAU-2), and why.
    organisation_id      INTEGER NOT NULL REFERENCES organisations(id),
    status               TEXT NOT NULL CHECK (status IN ('new', 'in_progress', 'waiting_for_user', 'resolved', 'closed')),
    assigned_to          INTEGER REFERENCES accounts(id),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    -- Due days (YYYY-MM-DD, Paris), from the category's deadlines (SAU-3).
    first_answer_due     TEXT NOT NULL,
    resolution_due       TEXT NOT NULL,
    first_answer_at      INTEGER,
    resolved_at          INTEGER,
    closed_at            INTEGER
);
-- The inbox: an organisation's requests, newest first (keyset pagination).
CREATE INDEX help_requests_inbox ON help_requests(organisation_id, created_at DESC, id DESC);
CREATE INDEX help_requests_requester ON help_requests(requester_account_id);

-- Every routing decision (the first one and each transfer), with its reason.
CREATE TABLE help_routings (
    id              INTEGER PRIMARY KEY,
    request_id      INTEGER NOT NULL REFERENCES help_requests(id),
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    reason          TEXT NOT NULL,
    note            TEXT,
    by_account_id   INTEGER REFERENCES accounts(id),
    at              INTEGER NOT NULL
);
CREATE INDEX help_routings_request ON help_routings(request_id, id);

-- The thread: the requester's messages, the agents' replies and internal
-- notes (never shown to the requester), the platform's notices.
CREATE TABLE help_messages (
    id                INTEGER PRIMARY KEY,
    request_id        INTEGER NOT NULL REFERENCES help_requests(id),
    author            TEXT NOT NULL CHECK (author IN ('requester', 'agent', 'platform')),
    author_account_id INTEGER REFERENCES accounts(id),
    internal          INTEGER NOT NULL DEFAULT 0 CHECK (internal IN (0, 1)),
    body              TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX help_messages_request ON help_messages(request_id, id);

-- SAU-3: each organisation's canned answers, inserted into a reply.
CREATE TABLE help_canned_answers (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX help_canned_answers_organisation ON help_canned_answers(organisation_id);

-- SAU-1, SAU-4: files attached to a message of a help request, kept in the
-- database (outside any web root, in the same transaction and backup as the
-- request; see docs/decisions.md). Keep in step with
-- migrations/postgres/0011_help_attachments_api.sql.
CREATE TABLE help_attachments (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES help_requests(id),
    message_id INTEGER NOT NULL REFERENCES help_messages(id),
    file_name  TEXT NOT NULL,
    -- Decided from the content's bytes (domain/attachment.rs).
    kind       TEXT NOT NULL CHECK (kind IN ('pdf', 'png', 'jpeg', 'text')),
    size       INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    content    BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX help_attachments_request ON help_attachments(request_id, message_id);

-- SAU-7: a service's access to the API (its OpenID Connect client, used
-- with client_credentials) and its status-change webhook.
CREATE TABLE help_service_links (
    service_id     INTEGER PRIMARY KEY REFERENCES services(id),
    client_id      TEXT UNIQUE REFERENCES oidc_clients(client_id),
    webhook_url    TEXT,
    -- In clear: signing each call needs it (as the outbox's message does).
    webhook_secret TEXT,
    updated_at     INTEGER NOT NULL
);

-- ID-3, SAU-7: the pairwise subjects issued, so that a service naming a
-- person by its `sub` finds the account (a subject is a one-way digest).
CREATE TABLE oidc_subjects (
    sector     TEXT NOT NULL,
    sub        TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (sector, sub)
);

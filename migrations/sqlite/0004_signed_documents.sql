-- CONV-10: signed scans of agreements and amendments, kept in the database
-- so that every node serves them (OPS-5). Keep in step with
-- migrations/postgres/0004_signed_documents.sql.
CREATE TABLE signed_documents (
    id           INTEGER PRIMARY KEY,
    agreement_id INTEGER NOT NULL REFERENCES agreements(id),
    amendment_id INTEGER REFERENCES amendments(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  INTEGER NOT NULL
);
CREATE INDEX signed_documents_agreement ON signed_documents(agreement_id);

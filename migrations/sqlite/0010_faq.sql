-- SAU-6: each service's FAQ, written by the metropolis (and by communes for
-- their own competences), searched in full text, with "did this answer your
-- question?" counted per entry. Keep in step with
-- migrations/postgres/0010_faq.sql.
CREATE TABLE faq_entries (
    id              INTEGER PRIMARY KEY,
    service_id      INTEGER NOT NULL REFERENCES services(id),
    category        TEXT,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    helpful         INTEGER NOT NULL DEFAULT 0,
    not_helpful     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX faq_entries_service ON faq_entries(service_id);

-- Full text: FTS5 over the question and the answer, accents folded; kept in
-- step with the table by triggers.
CREATE VIRTUAL TABLE faq_search USING fts5(
    question, answer, content='faq_entries', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER faq_entries_ai AFTER INSERT ON faq_entries BEGIN
    INSERT INTO faq_search(rowid, question, answer) VALUES (new.id, new.question, new.answer);
END;
CREATE TRIGGER faq_entries_ad AFTER DELETE ON faq_entries BEGIN
    INSERT INTO faq_search(faq_search, rowid, question, answer) VALUES ('delete', old.id, old.question, old.answer);
END;
CREATE TRIGGER faq_entries_au AFTER UPDATE OF question, answer ON faq_entries BEGIN
    INSERT INTO faq_search(faq_search, rowid, question, answer) VALUES ('delete', old.id, old.question, old.answer);
    INSERT INTO faq_search(rowid, question, answer) VALUES (new.id, new.question, new.answer);
END;

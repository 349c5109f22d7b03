-- DATA-2, ID-4: an event keeps the person's `sub` (the pairwise subject the
-- service received, never a cross-service identifier) only while the person
-- consents to statistics of their use of that service; NULL otherwise. The
-- daily job erases it when the consent ends; so does the account's deletion.
ALTER TABLE usage_events ADD COLUMN subject TEXT;
CREATE INDEX usage_events_subject ON usage_events(subject) WHERE subject IS NOT NULL;

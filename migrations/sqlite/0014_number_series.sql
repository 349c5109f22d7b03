-- SAU-4: numbers (a year's help-request references) are reserved a block at
-- a time by each node (kernel::Db::next_number), instead of one row locked
-- by every creation until its commit, which made creations run one at a
-- time on PostgreSQL (bench/assistance). `last` is the last number reserved.
CREATE TABLE number_series (
    series TEXT PRIMARY KEY,
    last   BIGINT NOT NULL
);
INSERT INTO number_series (series, last) SELECT 'SAU-' || year, last FROM help_request_counters;
DROP TABLE help_request_counters;

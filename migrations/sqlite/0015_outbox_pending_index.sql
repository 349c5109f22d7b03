-- OPS-5: a node leases the pending messages that are due, oldest due first.
-- Ordered by id, the lease sorted every pending message at each pass: with
-- a backlog (bench/assistance, thousands of acknowledgements queued) a pass
-- of 20 took 9 ms on PostgreSQL. This index gives them in lease order and
-- holds only the pending ones; it also serves the queue's depth.
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox(next_attempt_at, id) WHERE status = 'pending';

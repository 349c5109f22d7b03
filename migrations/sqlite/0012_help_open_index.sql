-- SAU-3: the open requests of an organisation, a few per cent of its
-- requests once years of closed ones pile up: the inbox's counts, its
-- status filters and its overdue filter read them through this partial
-- index (bench/assistance, 1,000,000 requests). Queries repeat the
-- condition `status <> 'closed'` so that SQLite uses it.
CREATE INDEX help_requests_open ON help_requests(organisation_id, status, created_at DESC, id DESC)
    WHERE status <> 'closed';

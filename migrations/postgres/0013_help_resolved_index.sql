-- SAU-3: the daily job closes resolved requests after 14 days; with years
-- of requests it finds the resolved ones through this partial index
-- instead of reading the whole table (bench/assistance).
CREATE INDEX help_requests_resolved ON help_requests(resolved_at) WHERE status = 'resolved';

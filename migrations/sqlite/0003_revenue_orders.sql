-- FIN-5: revenue orders (titres de recette). Keep in step with
-- migrations/postgres/0003_revenue_orders.sql.

-- The last number issued in each budget year's series; updated in the
-- issuing transaction, so numbers are gap-free and issuers serialise.
CREATE TABLE order_counters (
    budget_year INTEGER PRIMARY KEY,
    last        INTEGER NOT NULL
);

-- An issued order is never changed: a correction is another order
-- (`cancellation` or `reduction`) that refers to it.
CREATE TABLE revenue_orders (
    id                INTEGER PRIMARY KEY,
    budget_year       INTEGER NOT NULL,
    number            INTEGER NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('order', 'cancellation', 'reduction')),
    commune_id        INTEGER NOT NULL REFERENCES organisations(id),
    contribution_year INTEGER NOT NULL,
    refers_to         INTEGER REFERENCES revenue_orders(id),
    amount            TEXT NOT NULL,
    collectable       INTEGER NOT NULL CHECK (collectable IN (0, 1)),
    debtor_name       TEXT NOT NULL,
    debtor_siren      TEXT NOT NULL,
    legal_basis       TEXT NOT NULL,
    issuer            TEXT NOT NULL,
    appeal            TEXT NOT NULL,
    reason            TEXT,
    issued_at         INTEGER NOT NULL,
    UNIQUE (budget_year, number)
);
CREATE UNIQUE INDEX revenue_orders_one_per_year ON revenue_orders(commune_id, contribution_year) WHERE kind = 'order';

-- One line per service, with its whole basis of computation.
CREATE TABLE revenue_order_lines (
    order_id     INTEGER NOT NULL REFERENCES revenue_orders(id),
    position     INTEGER NOT NULL,
    service_code TEXT NOT NULL,
    service_name TEXT NOT NULL,
    basis        TEXT NOT NULL,
    due          TEXT NOT NULL,
    refund       TEXT NOT NULL,
    amount       TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);

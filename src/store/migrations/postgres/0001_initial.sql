-- Customers, their aliases, events and the order ledger that refunds are checked against:
-- the SQLite schema (migrations/sqlite/0001_initial.sql) on PostgreSQL. Instants are BIGINT
-- microseconds since the Unix epoch (UTC); money is BIGINT minor units.
--
-- Every identifier column uses COLLATE "C": ids compare and sort in byte order, the order of
-- Rust's `str` and of SQLite's BINARY collation, which keyset pagination relies on.

CREATE TABLE customers (
    id         TEXT COLLATE "C" NOT NULL,
    -- JSON of the CustomerProfile; NULL while the customer is known only from events. TEXT,
    -- not JSONB: it is only ever decoded whole, and JSONB refuses the escape \u0000.
    profile    TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT customers_pkey PRIMARY KEY (id)
);

-- kind: phone | email | external (value = system || chr(31) || key).
CREATE TABLE aliases (
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('phone', 'email', 'external')),
    value       TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- The store maps a violation of this constraint (a concurrent claim) to AliasTaken.
    CONSTRAINT aliases_pkey PRIMARY KEY (kind, value)
);

CREATE INDEX aliases_by_customer ON aliases (customer_id);

CREATE TABLE events (
    event_id    TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    -- Recording order, what SQLite's rowid gives: orders events with equal instants.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    -- Event::content_fingerprint(), byte for byte: compared on retries, decoded for histories.
    -- TEXT, not JSONB, which would reorder keys and normalise numbers.
    content     TEXT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (event_id)
);

-- Histories read a customer's events (or a page of customers' events) in (at, seq) order
-- straight off this index.
CREATE INDEX events_by_customer ON events (customer_id, at, seq);

CREATE TABLE orders (
    customer_id TEXT COLLATE "C" NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    order_id    TEXT COLLATE "C" NOT NULL,
    event_id    TEXT COLLATE "C" NOT NULL,
    at          BIGINT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount >= 0),
    refunded    BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    CONSTRAINT orders_pkey PRIMARY KEY (customer_id, order_id)
);

-- Customers, their aliases, events and the order ledger that refunds are checked against.
-- Instants are INTEGER microseconds since the Unix epoch (UTC); money is INTEGER minor units.

CREATE TABLE customers (
    id         TEXT    NOT NULL PRIMARY KEY,
    -- JSON of the CustomerProfile; NULL while the customer is known only from events.
    profile    TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- kind: phone | email | external (value = system || char(31) || key).
CREATE TABLE aliases (
    kind        TEXT NOT NULL CHECK (kind IN ('phone', 'email', 'external')),
    value       TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;

CREATE INDEX aliases_by_customer ON aliases (customer_id);

-- A rowid table on purpose: rowid keeps the recording order of events with equal instants.
CREATE TABLE events (
    event_id    TEXT    NOT NULL PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    -- Event::content_fingerprint(): compared on retries and decoded for histories.
    content     TEXT    NOT NULL
) STRICT;

CREATE INDEX events_by_customer ON events (customer_id, at);

CREATE TABLE orders (
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    order_id    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    refunded    INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    PRIMARY KEY (customer_id, order_id)
) STRICT, WITHOUT ROWID;

-- The pending tables keep only their recording order (src/store/sqlite/pending.rs): their
-- indexes by event id, customer and order took a random page per row inserted, and every
-- commit wrote nearly all of their pages. Each process now keeps the rowids by key in memory.
-- Without foreign keys: deleting a customer deletes its pending rows through that index, where
-- a cascade would scan the tables.

CREATE TABLE pending_events_appended (
    -- Recording order, as `events.rowid`; given by the writer, which notes it in its index.
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    content     TEXT    NOT NULL
) STRICT;

INSERT INTO pending_events_appended (seq, event_id, customer_id, at, content)
    SELECT seq, event_id, customer_id, at, content FROM pending_events ORDER BY seq;
DROP TABLE pending_events;
ALTER TABLE pending_events_appended RENAME TO pending_events;

CREATE TABLE pending_orders_appended (
    seq         INTEGER PRIMARY KEY,
    customer_id TEXT    NOT NULL,
    order_id    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    refunded    INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount)
) STRICT;

INSERT INTO pending_orders_appended (seq, customer_id, order_id, event_id, at, amount, refunded)
    SELECT rowid, customer_id, order_id, event_id, at, amount, refunded FROM pending_orders
    ORDER BY rowid;
DROP TABLE pending_orders;
ALTER TABLE pending_orders_appended RENAME TO pending_orders;

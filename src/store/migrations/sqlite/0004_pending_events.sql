-- Events and orders recorded since the last fold (src/store/sqlite/journal.rs). A commit that
-- inserts into the large tables dirties a page of every big index per event; these tables
-- stay small, so a commit writes a few pages per thousand events. A background fold moves
-- their rows into `events` and `orders` in key order. Reads take the union: a row is in
-- exactly one of the two places, and every pending event was recorded after every event of
-- `events`.

CREATE TABLE pending_events (
    -- Recording order, as `events.rowid`.
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT    NOT NULL UNIQUE,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    content     TEXT    NOT NULL
) STRICT;

CREATE INDEX pending_events_by_customer ON pending_events (customer_id, at);

CREATE TABLE pending_orders (
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    order_id    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    refunded    INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    UNIQUE (customer_id, order_id)
) STRICT;

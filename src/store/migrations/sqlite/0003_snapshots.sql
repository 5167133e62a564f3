-- Population snapshots shared between replicas, and the lease that lets one replica at a
-- time compute them on schedule.
CREATE TABLE snapshot_lease (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE snapshots (
    id            TEXT    NOT NULL PRIMARY KEY,
    rules_version TEXT    NOT NULL,
    as_of         INTEGER NOT NULL,
    body          TEXT    NOT NULL  -- JSON of the population statistics
) STRICT;

CREATE INDEX snapshots_latest ON snapshots (rules_version, as_of);

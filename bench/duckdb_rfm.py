#!/usr/bin/env python3
"""The 8-segment RFM of the segmentation model (spec sections 2 and 3.1) in DuckDB.

The reference point for segmenter-bench: how long an analytical engine takes to segment the
same orders at the same `as_of`. Loading the CSV and running the query are timed separately.

Input: the orders CSV that `segmenter demo --orders-csv` writes, header
`customer_id,order_id,ordered_at_micros,amount,refunded_amount` (amounts in minor units,
`refunded_amount` = sum of that order's refunds; the demo writes no event after `as_of`, so
every refund counts at `as_of`).

Output: one JSON object on stdout (timings, counts per segment, counts per R-F-M score code);
a readable summary on stderr.

Usage: python3 bench/duckdb_rfm.py --csv orders.csv --as-of 2025-06-30T12:00:00Z [--customers N]
       [--runs N]
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone

try:
    import duckdb
except ImportError:  # the bench installs it with pip when missing
    sys.exit("duckdb is not installed: pip install -r bench/requirements.txt")

MICROS_PER_DAY = 86_400_000_000

# Spec 2: a purchase is an ORDER at or before as_of with amount > 0, not fully refunded.
# "Within L days" is as_of - L days < instant <= as_of; days are floored.
# Spec 3.1: scores by percentile rank among the active buyers (a purchase within L),
#   floor(5 * pct(v)) = floor((10 * below + 5 * equal) / (2 * n)), capped at 4;
#   F and M = 1 + that, R = 5 - that (recent is good); every score is 1 with no active buyer.
# High/low against the population means (the default rule set's `high_low = "mean"`),
# compared exactly in integers: value * n against the sum; equal is low.
# Every buyer is segmented, an inactive one too (frequency and monetary 0), against the
# statistics of the active buyers; customers without purchases are NONE.
QUERY = """
WITH purchases AS (
    SELECT customer_id,
           ordered_at_micros AS ordered_at,
           amount - refunded_amount AS net,
           ordered_at_micros > $as_of - $lookback AS in_window
    FROM orders
    WHERE ordered_at_micros <= $as_of AND amount > 0 AND refunded_amount < amount
),
buyers AS (
    SELECT customer_id,
           ($as_of - max(ordered_at)) // $day AS recency,
           count(*) FILTER (WHERE in_window) AS frequency,
           coalesce(sum(net) FILTER (WHERE in_window), 0)::BIGINT AS monetary
    FROM purchases
    GROUP BY customer_id
),
active AS (SELECT * FROM buyers WHERE frequency > 0),
population AS (
    SELECT count(*)::HUGEINT AS n,
           coalesce(sum(recency), 0)::HUGEINT AS sum_r,
           coalesce(sum(frequency), 0)::HUGEINT AS sum_f,
           coalesce(sum(monetary), 0)::HUGEINT AS sum_m
    FROM active
),
-- Per distinct value among the active buyers: how many equal it, and how many are at or
-- below it. An ASOF join then finds, for any buyer's value, the nearest one not above it.
r_dist AS (
    SELECT recency AS v, count(*) AS equal,
           sum(count(*)) OVER (ORDER BY recency) AS not_above
    FROM active GROUP BY recency
),
f_dist AS (
    SELECT frequency AS v, count(*) AS equal,
           sum(count(*)) OVER (ORDER BY frequency) AS not_above
    FROM active GROUP BY frequency
),
m_dist AS (
    SELECT monetary AS v, count(*) AS equal,
           sum(count(*)) OVER (ORDER BY monetary) AS not_above
    FROM active GROUP BY monetary
),
ranked AS (
    SELECT b.customer_id, b.recency, b.frequency, b.monetary,
           coalesce(r.not_above, 0) - CASE WHEN r.v = b.recency THEN r.equal ELSE 0 END AS r_below,
           CASE WHEN r.v = b.recency THEN r.equal ELSE 0 END AS r_equal,
           coalesce(f.not_above, 0) - CASE WHEN f.v = b.frequency THEN f.equal ELSE 0 END AS f_below,
           CASE WHEN f.v = b.frequency THEN f.equal ELSE 0 END AS f_equal,
           coalesce(m.not_above, 0) - CASE WHEN m.v = b.monetary THEN m.equal ELSE 0 END AS m_below,
           CASE WHEN m.v = b.monetary THEN m.equal ELSE 0 END AS m_equal
    FROM buyers b
    ASOF LEFT JOIN r_dist r ON b.recency >= r.v
    ASOF LEFT JOIN f_dist f ON b.frequency >= f.v
    ASOF LEFT JOIN m_dist m ON b.monetary >= m.v
),
scored AS (
    SELECT
        CASE WHEN p.n = 0 THEN 1
             ELSE 5 - least(4, (10 * r_below + 5 * r_equal) // (2 * p.n)) END AS r_score,
        CASE WHEN p.n = 0 THEN 1
             ELSE 1 + least(4, (10 * f_below + 5 * f_equal) // (2 * p.n)) END AS f_score,
        CASE WHEN p.n = 0 THEN 1
             ELSE 1 + least(4, (10 * m_below + 5 * m_equal) // (2 * p.n)) END AS m_score,
        p.n > 0 AND recency::HUGEINT * p.n < p.sum_r AS r_high,
        p.n > 0 AND frequency::HUGEINT * p.n > p.sum_f AS f_high,
        p.n > 0 AND monetary::HUGEINT * p.n > p.sum_m AS m_high
    FROM ranked, population p
)
SELECT
    CASE
        WHEN r_high AND f_high AND m_high THEN 'IMPORTANT_VALUE'
        WHEN r_high AND NOT f_high AND m_high THEN 'IMPORTANT_DEVELOP'
        WHEN NOT r_high AND f_high AND m_high THEN 'IMPORTANT_KEEP'
        WHEN NOT r_high AND NOT f_high AND m_high THEN 'IMPORTANT_RETAIN'
        WHEN r_high AND f_high THEN 'GENERAL_VALUE'
        WHEN r_high THEN 'GENERAL_DEVELOP'
        WHEN f_high THEN 'GENERAL_KEEP'
        ELSE 'GENERAL_RETAIN'
    END AS segment,
    r_score || '-' || f_score || '-' || m_score AS scores,
    count(*) AS customers
FROM scored
GROUP BY ALL
"""

SEGMENTS = [
    "IMPORTANT_VALUE",
    "IMPORTANT_DEVELOP",
    "IMPORTANT_KEEP",
    "IMPORTANT_RETAIN",
    "GENERAL_VALUE",
    "GENERAL_DEVELOP",
    "GENERAL_KEEP",
    "GENERAL_RETAIN",
]


def parse_as_of(text):
    """RFC 3339 (a trailing Z allowed) to microseconds since the epoch, exactly."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    delta = instant - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="orders CSV of segmenter demo")
    parser.add_argument("--as-of", required=True, help="RFC 3339 instant to segment at")
    parser.add_argument("--lookback-days", type=int, default=365, help="L of spec 2")
    parser.add_argument(
        "--customers", type=int, help="all customers, to report those without purchases as NONE"
    )
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    parser.add_argument(
        "--runs", type=int, default=1, help="times to run the query; the median is reported"
    )
    args = parser.parse_args()

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")

    started = time.perf_counter()
    con.execute(
        "CREATE TABLE orders AS SELECT * FROM read_csv(?, header = true, columns = {"
        "'customer_id': 'VARCHAR', 'order_id': 'VARCHAR', 'ordered_at_micros': 'BIGINT', "
        "'amount': 'BIGINT', 'refunded_amount': 'BIGINT'})",
        [args.csv],
    )
    load_seconds = time.perf_counter() - started
    (orders,) = con.execute("SELECT count(*) FROM orders").fetchone()

    params = {
        "as_of": parse_as_of(args.as_of),
        "lookback": args.lookback_days * MICROS_PER_DAY,
        "day": MICROS_PER_DAY,
    }
    query_runs = []
    for _ in range(max(1, args.runs)):
        started = time.perf_counter()
        rows = con.execute(QUERY, params).fetchall()
        query_runs.append(time.perf_counter() - started)
    query_seconds = sorted(query_runs)[len(query_runs) // 2]

    segments = {code: 0 for code in SEGMENTS}
    scores = {}
    for segment, score, count in rows:
        segments[segment] += count
        scores[score] = scores.get(score, 0) + count
    buyers = sum(segments.values())
    if args.customers is not None:
        segments["NONE"] = args.customers - buyers

    result = {
        "duckdb_version": duckdb.__version__,
        "orders": orders,
        "buyers": buyers,
        "load_seconds": load_seconds,
        "query_seconds": query_seconds,
        "query_runs": query_runs,
        "segments": segments,
        "scores": dict(sorted(scores.items())),
    }
    print(
        f"duckdb {duckdb.__version__}: {orders} orders loaded in {load_seconds:.3f} s, "
        f"RFM of {buyers} buyers in {query_seconds:.3f} s",
        file=sys.stderr,
    )
    for code, count in segments.items():
        print(f"  {code:<18} {count}", file=sys.stderr)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()

//! Multi-row statements for batch writes and lookups, and running them so that the two
//! threads of a write keep busy at once.
//!
//! - Shapes: a statement of n rows is cut into statements of a few fixed sizes ([`SHAPES`]),
//!   so each kind of statement has a handful of SQL texts, built once and prepared once
//!   (sqlx keeps prepared statements per connection), instead of a new text, and a new
//!   parse, for every batch's remainder.
//! - Overlap: SQLite runs on sqlx's worker thread while the caller's task waits. The task
//!   builds the next statement meanwhile, see [`execute_all`].

use std::future::Future;
use std::ops::Range;
use std::pin::pin;
use std::task::Poll;

use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};

/// Rows per statement, largest first. At most six parameters a row stay far below SQLite's
/// limit of 32,766 bound parameters; a thousand rows make the per-statement cost vanish.
pub(super) const SHAPES: [usize; 6] = [1_024, 256, 64, 16, 4, 1];

/// A statement with its parameters bound.
pub(super) type Statement<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Consecutive ranges covering `0..n`, each as long as the largest shape that fits.
pub(super) fn cut(n: usize) -> impl Iterator<Item = Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = n - start;
        let size = SHAPES.into_iter().find(|&size| size <= left)?;
        start += size;
        Some(start - size..start)
    })
}

/// The SQL texts of one kind of statement, one per shape: `head`, then `row` once per row
/// separated by commas, then `tail`.
pub(super) struct Shapes {
    texts: Vec<(usize, String)>,
}

impl Shapes {
    pub(super) fn new(head: &str, row: &str, tail: &str) -> Self {
        let texts = SHAPES
            .into_iter()
            .map(|rows| {
                let mut sql =
                    String::with_capacity(head.len() + rows * (row.len() + 2) + tail.len());
                sql.push_str(head);
                for n in 0..rows {
                    if n > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(row);
                }
                sql.push_str(tail);
                (rows, sql)
            })
            .collect();
        Self { texts }
    }

    /// The statement for `rows` rows, one of [`SHAPES`] (what [`cut`] gives); any other
    /// count gets an empty text, which SQLite refuses.
    pub(super) fn sql(&self, rows: usize) -> &str {
        self.texts
            .iter()
            .find(|(size, _)| *size == rows)
            .map_or("", |(_, sql)| sql.as_str())
    }
}

/// Executes `statements` in order; each next one is built while SQLite executes the one
/// before. Returns the rows they changed.
pub(super) async fn execute_all<'q>(
    conn: &mut SqliteConnection,
    mut statements: impl Iterator<Item = Statement<'q>>,
) -> Result<u64, sqlx::Error> {
    let mut changed = 0;
    let mut next = statements.next();
    while let Some(statement) = next.take() {
        let (done, built) = overlapped(statement.execute(&mut *conn), || statements.next()).await;
        changed += done?.rows_affected();
        next = built;
    }
    Ok(changed)
}

/// Polls `future` once, which hands its statement to SQLite's worker thread, then runs `work`
/// here while the worker executes it, then awaits the future.
async fn overlapped<F: Future, T>(future: F, work: impl FnOnce() -> T) -> (F::Output, T) {
    let mut future = pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    let done = work();
    let output = match first {
        Poll::Ready(output) => output,
        Poll::Pending => future.await,
    };
    (output, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_cover_every_row_once_in_known_shapes() {
        for n in [0, 1, 3, 4, 5, 1_023, 1_024, 1_025, 2_500, 10_000] {
            let ranges: Vec<Range<usize>> = cut(n).collect();
            let mut next = 0;
            for range in &ranges {
                assert_eq!(range.start, next, "{n}: {ranges:?}");
                assert!(SHAPES.contains(&range.len()), "{n}: {ranges:?}");
                next = range.end;
            }
            assert_eq!(next, n);
            // Largest first: at most three of each smaller shape.
            assert!(ranges.windows(2).all(|w| w[0].len() >= w[1].len()));
        }
    }

    #[test]
    fn shapes_repeat_the_row() {
        let shapes = Shapes::new("INSERT INTO t VALUES ", "(?, ?)", " RETURNING a");
        assert_eq!(shapes.sql(1), "INSERT INTO t VALUES (?, ?) RETURNING a");
        assert_eq!(shapes.sql(4).matches("(?, ?)").count(), 4);
        assert_eq!(shapes.sql(1_024).matches(", (").count(), 1_023);
        assert_eq!(shapes.sql(3), "");
    }
}

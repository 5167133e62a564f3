//! Reading every stored key of a table in key order, a page of thousands of keys per row:
//! each row that sqlx hands over costs about a microsecond of its own, which for 12 million
//! event ids was most of the scan.
//!
//! SQLite joins a page's keys into one text, each key as its byte length, a colon and its
//! bytes, so that any key, colons and all, is read back exactly.

use sqlx::SqliteConnection;

use crate::store::StoreError;

/// Keys per page.
pub(super) const PAGE_KEYS: i64 = 50_000;

/// A scan of one table's unique key, of one or more columns, in the order of an index that
/// has it (pages continue after the last key read, so the key must be unique).
pub(super) struct KeyScan {
    first_page: String,
    next_page: String,
    columns: usize,
}

impl KeyScan {
    /// `from` names the table (with an `INDEXED BY` where the planner needs it).
    pub fn new(from: &str, columns: &[&str]) -> KeyScan {
        let record = columns
            .iter()
            .map(|c| format!("length(CAST({c} AS BLOB)) || ':' || {c}"))
            .collect::<Vec<_>>()
            .join(" || ");
        let list = columns.join(", ");
        let placeholders = (0..columns.len())
            .map(|n| format!("?{}", n + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let page = |filter: &str| {
            format!(
                "SELECT group_concat({record}, '') FROM \
                 (SELECT {list} FROM {from} {filter} ORDER BY {list} LIMIT ?1)"
            )
        };
        KeyScan {
            first_page: page(""),
            next_page: page(&format!("WHERE ({list}) > ({placeholders})")),
            columns: columns.len(),
        }
    }

    /// Calls `visit` with every key's columns, in key order, `page_keys` keys per statement.
    /// Returns how many keys it visited.
    pub async fn run(
        &self,
        conn: &mut SqliteConnection,
        page_keys: i64,
        mut visit: impl FnMut(&[&str]),
    ) -> Result<u64, StoreError> {
        let mut last: Option<Vec<String>> = None;
        let mut visited = 0;
        loop {
            let page: Option<String> = match &last {
                None => {
                    sqlx::query_scalar(&self.first_page)
                        .bind(page_keys)
                        .fetch_one(&mut *conn)
                        .await?
                }
                Some(key) => {
                    let mut query = sqlx::query_scalar(&self.next_page).bind(page_keys);
                    for column in key {
                        query = query.bind(column.as_str());
                    }
                    query.fetch_one(&mut *conn).await?
                }
            };
            let Some(page) = page else {
                return Ok(visited);
            };
            let mut fields = CountedFields { rest: &page };
            let mut key: Vec<&str> = Vec::with_capacity(self.columns);
            let mut keys = 0;
            while let Some(field) = fields.next_field()? {
                key.push(field);
                if key.len() == self.columns {
                    visit(&key);
                    keys += 1;
                    last = Some(key.iter().map(|c| (*c).to_owned()).collect());
                    key.clear();
                }
            }
            if !key.is_empty() {
                return Err(malformed());
            }
            visited += keys;
            if keys < page_keys as u64 {
                return Ok(visited);
            }
        }
    }
}

/// The fields of a page: `<byte length>:<bytes>`, one after the other.
struct CountedFields<'p> {
    rest: &'p str,
}

impl<'p> CountedFields<'p> {
    fn next_field(&mut self) -> Result<Option<&'p str>, StoreError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (length, after) = self.rest.split_once(':').ok_or_else(malformed)?;
        let length: usize = length.parse().map_err(|_| malformed())?;
        let field = after.get(..length).ok_or_else(malformed)?;
        self.rest = &after[length..];
        Ok(Some(field))
    }
}

fn malformed() -> StoreError {
    StoreError::Backend("a page of stored keys did not read back".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[test]
    fn fields_read_back_whatever_they_hold() {
        let page = "3:a:b0:4:12:32:é";
        let mut fields = CountedFields { rest: page };
        let mut read = Vec::new();
        while let Some(field) = fields.next_field().unwrap() {
            read.push(field);
        }
        assert_eq!(read, ["a:b", "", "12:3", "é"]);
    }

    #[test]
    fn a_cut_page_is_an_error() {
        for page in ["5:abc", "x:abc", "3abc", "1:é"] {
            let mut fields = CountedFields { rest: page };
            let result = (|| {
                while fields.next_field()?.is_some() {}
                Ok::<_, StoreError>(())
            })();
            assert!(result.is_err(), "{page:?}");
        }
    }

    #[tokio::test]
    async fn a_scan_visits_every_key_once_in_order_across_pages() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut expected = Vec::new();
        for n in 0..23 {
            let a = format!("c:{}", n % 4);
            let b = format!("o-{n}é");
            sqlx::query("INSERT INTO t VALUES (?, ?)")
                .bind(&a)
                .bind(&b)
                .execute(&mut conn)
                .await
                .unwrap();
            expected.push(vec![a, b]);
        }
        expected.sort();

        for page_keys in [1, 5, 23, 100] {
            let mut seen: Vec<Vec<String>> = Vec::new();
            let visited = KeyScan::new("t", &["a", "b"])
                .run(&mut conn, page_keys, |key| {
                    seen.push(key.iter().map(|c| (*c).to_owned()).collect());
                })
                .await
                .unwrap();
            assert_eq!(visited, 23);
            assert_eq!(seen, expected, "pages of {page_keys}");
        }
    }
}

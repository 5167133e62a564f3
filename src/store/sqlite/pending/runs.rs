//! A multimap from key hashes to rowids, as sorted runs: appending a batch's entries sorts
//! them once, and a lookup binary-searches each run. Runs merge pairwise as they grow, like
//! a binary counter, so a million entries stay in about twenty runs, at 16 bytes an entry,
//! without a hash table's empty slots.

/// Entries of (key hash, rowid), in runs each sorted.
#[derive(Debug, Default)]
pub(super) struct Runs {
    runs: Vec<Vec<(u64, i64)>>,
}

impl Runs {
    /// Adds entries (in any order).
    pub(super) fn add(&mut self, mut entries: Vec<(u64, i64)>) {
        if entries.is_empty() {
            return;
        }
        entries.sort_unstable();
        self.runs.push(entries);
        // A run merges into the one before it while it is at least half as long: each entry
        // then takes part in a logarithmic number of merges.
        while let [.., older, newer] = self.runs.as_slice() {
            if older.len() > 2 * newer.len() {
                break;
            }
            let (Some(newer), Some(older)) = (self.runs.pop(), self.runs.pop()) else {
                break;
            };
            self.runs.push(merged(older, newer));
        }
    }

    /// Appends to `found` the rowids of `key`, each once per time it was added.
    pub(super) fn rowids(&self, key: u64, found: &mut Vec<i64>) {
        for run in &self.runs {
            let start = run.partition_point(|&(k, _)| k < key);
            found.extend(
                run[start..]
                    .iter()
                    .take_while(|&&(k, _)| k == key)
                    .map(|&(_, rowid)| rowid),
            );
        }
    }

    /// Drops the entries of rowids up to `last`.
    pub(super) fn drop_through(&mut self, last: i64) {
        for run in &mut self.runs {
            run.retain(|&(_, rowid)| rowid > last);
        }
        self.runs.retain(|run| !run.is_empty());
    }

    pub(super) fn clear(&mut self) {
        self.runs.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    #[cfg(test)]
    fn run_count(&self) -> usize {
        self.runs.len()
    }
}

fn merged(older: Vec<(u64, i64)>, newer: Vec<(u64, i64)>) -> Vec<(u64, i64)> {
    let mut merged = Vec::with_capacity(older.len() + newer.len());
    let mut older = older.into_iter().peekable();
    let mut newer = newer.into_iter().peekable();
    loop {
        let next = match (older.peek(), newer.peek()) {
            (Some(a), Some(b)) if a <= b => older.next(),
            (Some(_), Some(_)) => newer.next(),
            (Some(_), None) => older.next(),
            (None, _) => newer.next(),
        };
        match next {
            Some(entry) => merged.push(entry),
            None => return merged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rowids(runs: &Runs, key: u64) -> Vec<i64> {
        let mut found = Vec::new();
        runs.rowids(key, &mut found);
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_every_rowid_of_a_key_across_runs() {
        let mut runs = Runs::default();
        runs.add(vec![(7, 1), (3, 2), (7, 3)]);
        runs.add(vec![(9, 4)]);
        runs.add(vec![(7, 5), (1, 6)]);
        assert_eq!(rowids(&runs, 7), vec![1, 3, 5]);
        assert_eq!(rowids(&runs, 9), vec![4]);
        assert_eq!(rowids(&runs, 1), vec![6]);
        assert!(rowids(&runs, 2).is_empty());
        assert!(rowids(&runs, u64::MAX).is_empty());
        assert_eq!(runs.len(), 6);
    }

    #[test]
    fn many_small_batches_stay_in_few_runs() {
        let mut runs = Runs::default();
        for rowid in 0..10_000_i64 {
            runs.add(vec![(
                (rowid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                rowid,
            )]);
        }
        assert!(runs.run_count() <= 15, "{} runs", runs.run_count());
        assert_eq!(runs.len(), 10_000);
        for rowid in [0_i64, 1, 4_999, 9_999] {
            let key = (rowid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            assert_eq!(rowids(&runs, key), vec![rowid]);
        }
    }

    #[test]
    fn dropping_through_a_rowid_keeps_only_later_ones() {
        let mut runs = Runs::default();
        runs.add(vec![(5, 1), (5, 2)]);
        runs.add(vec![(5, 3), (6, 4)]);
        runs.drop_through(3);
        assert_eq!(rowids(&runs, 5), Vec::<i64>::new());
        assert_eq!(rowids(&runs, 6), vec![4]);
        assert_eq!(runs.len(), 1);
        runs.clear();
        assert_eq!(runs.len(), 0);
        assert!(rowids(&runs, 6).is_empty());
    }

    #[test]
    fn an_empty_batch_adds_no_run() {
        let mut runs = Runs::default();
        runs.add(Vec::new());
        assert_eq!(runs.run_count(), 0);
    }
}

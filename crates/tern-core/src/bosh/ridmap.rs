//! A small map keyed by request id, for the few requests and responses a BOSH session keeps
//! (at most `requests`, XEP-0124 §11, §14.3). A sorted vector: a `BTreeMap` allocates a
//! node for eleven entries on the first insert and keeps it when emptied, several KB per
//! idle session for the requests waiting behind a gap; this holds nothing when empty.

/// Entries sorted by rid.
#[derive(Debug)]
pub(super) struct RidMap<V> {
    entries: Vec<(u64, V)>,
}

impl<V> Default for RidMap<V> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<V> RidMap<V> {
    fn find(&self, rid: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&rid, |(r, _)| *r)
    }

    pub(super) fn get(&self, rid: &u64) -> Option<&V> {
        self.find(*rid).ok().map(|i| &self.entries[i].1)
    }

    pub(super) fn get_mut(&mut self, rid: &u64) -> Option<&mut V> {
        self.find(*rid).ok().map(|i| &mut self.entries[i].1)
    }

    /// Insert or replace. Room is made for one entry at a time, not the vector's usual four
    /// at first and doubling: a session keeps two or three entries for its whole life.
    pub(super) fn insert(&mut self, rid: u64, v: V) {
        match self.find(rid) {
            Ok(i) => self.entries[i].1 = v,
            Err(i) => {
                self.entries.reserve_exact(1);
                self.entries.insert(i, (rid, v));
            }
        }
    }

    pub(super) fn remove(&mut self, rid: &u64) -> Option<V> {
        let i = self.find(*rid).ok()?;
        let (_, v) = self.entries.remove(i);
        self.release_if_empty();
        Some(v)
    }

    pub(super) fn pop_first(&mut self) -> Option<(u64, V)> {
        if self.entries.is_empty() {
            return None;
        }
        let first = self.entries.remove(0);
        self.release_if_empty();
        Some(first)
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&u64, &mut V) -> bool) {
        self.entries.retain_mut(|(rid, v)| keep(rid, v));
        self.release_if_empty();
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// In rid order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.entries.iter().map(|(r, v)| (r, v))
    }

    fn release_if_empty(&mut self) {
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_map_operations() {
        let mut m = RidMap::default();
        for rid in [5u64, 3, 9, 7] {
            m.insert(rid, rid * 10);
        }
        m.insert(7, 71);
        assert_eq!(m.iter().map(|(r, v)| (*r, *v)).collect::<Vec<_>>(), [(3, 30), (5, 50), (7, 71), (9, 90)]);
        assert_eq!(m.entries.capacity(), 4, "room for the entries alone");
        assert_eq!(m.get(&5), Some(&50));
        *m.get_mut(&5).expect("5") = 51;
        assert_eq!(m.remove(&5), Some(51));
        assert_eq!(m.remove(&5), None);
        assert_eq!(m.pop_first(), Some((3, 30)));
        m.retain(|r, _| *r > 7);
        assert_eq!(m.len(), 1);
        assert_eq!(m.pop_first(), Some((9, 90)));
        assert!(m.is_empty());
        assert_eq!(m.entries.capacity(), 0, "nothing kept once empty");
    }
}

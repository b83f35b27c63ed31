//! Posting lists: for each bigram, the sorted slots of the entries that contain it, stored as
//! varint gaps in one byte buffer per document.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Immutable postings of one document: sorted keys, and for key `i` the bytes
/// `data[offsets[i]..offsets[i + 1]]` holding its slots as varint gaps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postings {
    keys: Vec<u64>,
    offsets: Vec<u32>,
    data: Vec<u8>,
}

impl Postings {
    /// Builds postings from lists of sorted, distinct slots.
    pub fn build(lists: &BTreeMap<u64, Vec<u32>>) -> Postings {
        let mut p = Postings {
            keys: Vec::with_capacity(lists.len()),
            offsets: Vec::with_capacity(lists.len() + 1),
            data: Vec::new(),
        };
        p.offsets.push(0);
        for (key, slots) in lists {
            p.keys.push(*key);
            let mut prev = 0u32;
            for (i, s) in slots.iter().enumerate() {
                let gap = if i == 0 { *s } else { s - prev };
                put_varint(&mut p.data, gap);
                prev = *s;
            }
            p.offsets
                .push(u32::try_from(p.data.len()).unwrap_or(u32::MAX));
        }
        p
    }

    /// Appends the slots of `key` to `out` (sorted).
    pub fn get(&self, key: u64, out: &mut Vec<u32>) {
        if let Ok(i) = self.keys.binary_search(&key) {
            self.decode(i, out);
        }
    }

    /// Appends the slots of every key in `range` to `out` (unsorted, with repeats).
    pub fn get_range(&self, range: RangeInclusive<u64>, out: &mut Vec<u32>) {
        let start = self.keys.partition_point(|k| k < range.start());
        let end = self.keys.partition_point(|k| k <= range.end());
        for i in start..end {
            self.decode(i, out);
        }
    }

    fn decode(&self, i: usize, out: &mut Vec<u32>) {
        let (Some(&from), Some(&to)) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
            return;
        };
        let Some(mut bytes) = self.data.get(from as usize..to as usize) else {
            return;
        };
        let mut prev = 0u32;
        let mut first = true;
        while let Some((v, rest)) = get_varint(bytes) {
            bytes = rest;
            prev = if first { v } else { prev.saturating_add(v) };
            first = false;
            out.push(prev);
        }
    }

    /// Every key with its slots, in key order.
    pub fn lists(&self) -> impl Iterator<Item = (u64, Vec<u32>)> + '_ {
        self.keys.iter().enumerate().map(|(i, k)| {
            let mut out = Vec::new();
            self.decode(i, &mut out);
            (*k, out)
        })
    }

    /// Bytes held in memory.
    pub fn heap_bytes(&self) -> usize {
        self.keys.len() * 8 + self.offsets.len() * 4 + self.data.len()
    }

    /// Number of distinct keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut v = 0u32;
    for (i, b) in bytes.iter().enumerate().take(5) {
        v |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

/// Intersects two sorted lists of distinct slots into `a`.
pub fn intersect(a: &mut Vec<u32>, b: &[u32]) {
    let mut j = 0;
    a.retain(|x| {
        while j < b.len() && b[j] < *x {
            j += 1;
        }
        j < b.len() && b[j] == *x
    });
}

/// Sorts and removes repeats.
pub fn normalise(v: &mut Vec<u32>) {
    v.sort_unstable();
    v.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_intersects() {
        let mut lists = BTreeMap::new();
        lists.insert(5u64, vec![0, 3, 200, 70_000]);
        lists.insert(9u64, vec![3, 4, 70_000]);
        lists.insert(12u64, vec![1]);
        let p = Postings::build(&lists);
        let mut a = Vec::new();
        p.get(5, &mut a);
        assert_eq!(a, vec![0, 3, 200, 70_000]);
        let mut b = Vec::new();
        p.get(9, &mut b);
        intersect(&mut a, &b);
        assert_eq!(a, vec![3, 70_000]);
        let mut r = Vec::new();
        p.get_range(6..=12, &mut r);
        normalise(&mut r);
        assert_eq!(r, vec![1, 3, 4, 70_000]);
        let mut none = Vec::new();
        p.get(7, &mut none);
        assert!(none.is_empty());
    }
}

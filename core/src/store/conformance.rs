//! The conformance suite every [`Backend`] must pass, sled today and a server database later.
//! Call [`run_all`] from a test with a function that opens the backend in a folder.

use super::{Backend, Write};
use crate::error::StoreError;
use std::path::Path;

/// Opens a backend in a folder; called again on the same folder to test durability.
pub type Opener<'a> = &'a dyn Fn(&Path) -> Result<Box<dyn Backend>, StoreError>;

type ConformanceCheck = fn(&Path, Opener<'_>) -> Result<(), String>;

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

fn err(e: StoreError) -> String {
    e.to_string()
}

/// Runs every check in fresh folders under `root`; returns the first failure.
pub fn run_all(root: &Path, open: Opener<'_>) -> Result<(), String> {
    let checks: [(&str, ConformanceCheck); 6] = [
        ("get_put_delete", get_put_delete),
        ("batch_is_all_or_nothing_visible", batch_applies_together),
        ("scan_prefix_in_key_order", scan_prefix_in_order),
        ("last_with_prefix", last_with_prefix),
        ("survives_reopen", survives_reopen),
        ("large_values", large_values),
    ];
    for (name, f) in checks {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        f(&dir, open).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

fn get_put_delete(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    let b = open(dir).map_err(err)?;
    check(
        b.get(b"a").map_err(err)?.is_none(),
        "missing key must read as None",
    )?;
    b.apply(vec![Write::Put(b"a".to_vec(), b"1".to_vec())])
        .map_err(err)?;
    check(
        b.get(b"a").map_err(err)? == Some(b"1".to_vec()),
        "put then get",
    )?;
    b.apply(vec![Write::Put(b"a".to_vec(), b"2".to_vec())])
        .map_err(err)?;
    check(
        b.get(b"a").map_err(err)? == Some(b"2".to_vec()),
        "overwrite",
    )?;
    b.apply(vec![
        Write::Delete(b"a".to_vec()),
        Write::Delete(b"never".to_vec()),
    ])
    .map_err(err)?;
    check(b.get(b"a").map_err(err)?.is_none(), "delete")
}

fn batch_applies_together(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    let b = open(dir).map_err(err)?;
    let writes = (0u8..50)
        .map(|i| Write::Put(vec![b'k', i], vec![i]))
        .collect();
    b.apply(writes).map_err(err)?;
    check(
        b.scan_prefix(b"k").map_err(err)?.len() == 50,
        "all writes of a batch visible",
    )?;
    b.apply(vec![
        Write::Put(b"x".to_vec(), b"1".to_vec()),
        Write::Delete(b"x".to_vec()),
    ])
    .map_err(err)?;
    check(
        b.get(b"x").map_err(err)?.is_none(),
        "later write in a batch wins",
    )
}

fn scan_prefix_in_order(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    let b = open(dir).map_err(err)?;
    b.apply(vec![
        Write::Put(vec![2, 0, 2], b"c".to_vec()),
        Write::Put(vec![2, 0, 1], b"b".to_vec()),
        Write::Put(vec![2, 1], b"z".to_vec()),
        Write::Put(vec![1, 9], b"y".to_vec()),
        Write::Put(vec![2, 0], b"a".to_vec()),
    ])
    .map_err(err)?;
    let got: Vec<Vec<u8>> = b
        .scan_prefix(&[2, 0])
        .map_err(err)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    check(
        got == vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
        "prefix scan order and bounds",
    )?;
    check(
        b.scan_prefix(&[3]).map_err(err)?.is_empty(),
        "empty prefix scan",
    )
}

fn last_with_prefix(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    let b = open(dir).map_err(err)?;
    check(
        b.last_with_prefix(&[5]).map_err(err)?.is_none(),
        "no last in empty prefix",
    )?;
    b.apply(
        (0u64..300)
            .map(|i| Write::Put([&[5u8][..], &i.to_be_bytes()].concat(), vec![1]))
            .collect(),
    )
    .map_err(err)?;
    b.apply(vec![Write::Put(vec![6], vec![2])]).map_err(err)?;
    let last = b.last_with_prefix(&[5]).map_err(err)?.map(|(k, _)| k);
    check(
        last == Some([&[5u8][..], &299u64.to_be_bytes()].concat()),
        "last key under prefix",
    )
}

fn survives_reopen(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    {
        let b = open(dir).map_err(err)?;
        b.apply(vec![Write::Put(b"durable".to_vec(), b"yes".to_vec())])
            .map_err(err)?;
    }
    let b = open(dir).map_err(err)?;
    check(
        b.get(b"durable").map_err(err)? == Some(b"yes".to_vec()),
        "value survives reopen",
    )
}

fn large_values(dir: &Path, open: Opener<'_>) -> Result<(), String> {
    let b = open(dir).map_err(err)?;
    let big: Vec<u8> = (0..4 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    b.apply(vec![Write::Put(b"big".to_vec(), big.clone())])
        .map_err(err)?;
    check(
        b.get(b"big").map_err(err)? == Some(big),
        "4 MiB value round trip",
    )?;
    check(b.size_on_disk().map_err(err)? > 0, "size on disk reported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledBackend;

    #[test]
    fn sled_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let open = |p: &Path| -> Result<Box<dyn Backend>, StoreError> {
            Ok(Box::new(SledBackend::open(p)?))
        };
        run_all(dir.path(), &open).unwrap();
    }
}

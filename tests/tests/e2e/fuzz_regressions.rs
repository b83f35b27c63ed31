//! Replays the fuzz corpus on stable: every file in `tests/fuzz/corpus/<target>/` (a minimized
//! set that covers what the fuzzer reached) and `tests/fuzz/regressions/<target>/` (every
//! crasher ever found, kept after its fix) goes through the same target body the fuzzer runs
//! (`kizuna_core::fuzzing`, `kizuna_server::fuzzing`). A panic or a broken invariant fails the
//! test and names the file.
//!
//! `cargo test -p kizuna-tests --test e2e -- --ignored --exact fuzz_regressions::write_seeds`
//! rewrites the seed inputs (`seed-*` files: a real sync request, real changes, a real CSR,
//! real headers) into the corpus folders.
//!
//! `tests/fuzz/pending/<target>/` holds findings on holes that are known and being fixed: they
//! fail on the code of their commit, so only the ignored `member_changes_pending` replays them
//! (`cargo test -p kizuna-tests --test e2e -- --ignored --exact
//! fuzz_regressions::member_changes_pending`); once it passes, the files move to
//! `regressions/`.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("sync_request", kizuna_core::fuzzing::sync_request),
    ("change_validation", kizuna_core::fuzzing::change_validation),
    ("enrollment_csr", kizuna_server::fuzzing::enrollment_csr),
    ("upload_headers", kizuna_server::fuzzing::upload_headers),
    (
        "member_changes",
        kizuna_core::fuzzing::member_changes::member_changes,
    ),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn replay(name: &str, body: Target) {
    replay_from(&["corpus", "regressions"], name, body);
}

/// Replays every file of `tests/fuzz/<kind>/<name>/` for each kind; names all that fail.
fn replay_from(kinds: &[&str], name: &str, body: Target) {
    let mut count = 0;
    let mut failed = Vec::new();
    for kind in kinds {
        for file in files(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let run = std::panic::catch_unwind(|| body(&data));
            if run.is_err() {
                failed.push(file.display().to_string());
            }
            count += 1;
        }
    }
    assert!(failed.is_empty(), "{name}: these fail again: {failed:#?}");
    assert!(
        count > 0,
        "{name}: no corpus found under {}",
        fuzz_dir().display()
    );
    println!("{name}: {count} inputs replayed");
}

#[test]
fn sync_request_corpus() {
    replay(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn change_validation_corpus() {
    replay(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn enrollment_csr_corpus() {
    replay(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn upload_headers_corpus() {
    replay(TARGETS[3].0, TARGETS[3].1);
}

#[test]
fn member_changes_corpus() {
    replay(TARGETS[4].0, TARGETS[4].1);
}

/// The findings of `member_changes` on the holes being fixed (see the top of this file).
#[test]
#[ignore = "known holes in the relay's write rules; enable (and move the files to regressions/) once the fix lands"]
fn member_changes_pending() {
    replay_from(&["pending"], TARGETS[4].0, TARGETS[4].1);
}

/// The member_changes seeds that the relay handles today pass; the others are the known
/// holes, kept in `tests/fuzz/pending/member_changes/` (see `write_member_seeds`).
#[test]
fn member_seeds_in_corpus_pass() {
    let corpus = fuzz_dir().join("corpus").join("member_changes");
    for (name, data) in kizuna_core::fuzzing::member_changes::seeds() {
        if corpus.join(format!("seed-{name}")).exists() {
            let run = std::panic::catch_unwind(|| {
                kizuna_core::fuzzing::member_changes::member_changes(&data)
            });
            assert!(run.is_ok(), "member_changes seed {name} fails");
        }
    }
}

/// Writes the member_changes seeds: into `corpus/member_changes/` those the relay handles
/// today, into `pending/member_changes/` those that hit a known hole (the oracle fails).
#[test]
#[ignore = "rewrites the committed member_changes seeds; run by hand"]
fn write_member_seeds() {
    for (name, data) in kizuna_core::fuzzing::member_changes::seeds() {
        let run = std::panic::catch_unwind(|| {
            kizuna_core::fuzzing::member_changes::member_changes(&data)
        });
        let kind = if run.is_ok() { "corpus" } else { "pending" };
        let dir = fuzz_dir().join(kind).join("member_changes");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!("{kind}: seed-{name}");
    }
}

/// The seeds themselves pass (a fixture change that breaks them shows here first).
#[test]
fn seeds_pass() {
    let mut seeds = kizuna_core::fuzzing::seeds();
    seeds.extend(kizuna_server::fuzzing::seeds());
    for (target, name, data) in seeds {
        let body = TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("unknown target {target}"));
        let run = std::panic::catch_unwind(|| body(&data));
        assert!(run.is_ok(), "seed {target}/{name} fails");
    }
}

/// Writes the seed inputs into `tests/fuzz/corpus/<target>/seed-<name>`.
#[test]
#[ignore = "rewrites the committed corpus seeds; run by hand"]
fn write_seeds() {
    let mut seeds = kizuna_core::fuzzing::seeds();
    seeds.extend(kizuna_server::fuzzing::seeds());
    for (target, name, data) in seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Runs one input through one target with a backtrace, outside libFuzzer:
/// `KIZUNA_FUZZ_TARGET=change_validation KIZUNA_FUZZ_INPUT=path RUST_BACKTRACE=1 cargo test
/// -p kizuna-tests --test e2e -- --ignored --exact fuzz_regressions::reproduce --nocapture`.
#[test]
#[ignore = "reproduces one crasher by hand"]
fn reproduce() {
    let target = std::env::var("KIZUNA_FUZZ_TARGET").unwrap_or_default();
    let input = std::env::var("KIZUNA_FUZZ_INPUT").unwrap_or_default();
    let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
    let body = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("unknown target {target:?}"));
    body(&data);
}

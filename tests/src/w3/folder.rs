//! The W3 work folder: the prepared relay's data, the phones' saved copies of their own rooms,
//! `layout.json` (what [`super::prepare()`] built, read by the load generator) and the fresh copy
//! each measured run works on.

use super::{Fallible, Layout, err};
use kizuna_core::RoomId;
use std::path::{Path, PathBuf};

fn layout_path(work: &Path) -> PathBuf {
    work.join("layout.json")
}

/// The relay's data folder inside `work`.
pub fn relay_dir(work: &Path) -> PathBuf {
    work.join("relay")
}

/// Where each measured run's relay works: a fresh copy of the prepared data.
fn run_dir(work: &Path) -> PathBuf {
    work.join("run")
}

/// Copies the prepared relay data to a fresh run folder and returns the copy's data folder.
/// Every run starts from the same state: the rooms hold exactly their year, and the phones'
/// saved copies of their own rooms match the relay's. (Running on the prepared folder itself
/// let each run's changes pile up in it, and the next run's first sync then sent every phone
/// all of them at once.)
pub fn fresh_run_copy(work: &Path) -> Fallible<PathBuf> {
    let run = run_dir(work);
    if run.exists() {
        std::fs::remove_dir_all(&run).map_err(err)?;
    }
    let to = run.join("relay");
    copy_dir(&relay_dir(work), &to)?;
    Ok(to)
}

/// Copies a folder with the modes of the original (the relay refuses a data directory others
/// can open; `fs::copy` keeps files' modes, folders are made here).
fn copy_dir(from: &Path, to: &Path) -> Fallible<()> {
    std::fs::create_dir_all(to).map_err(err)?;
    let mode = std::fs::metadata(from).map_err(err)?.permissions();
    std::fs::set_permissions(to, mode).map_err(err)?;
    for entry in std::fs::read_dir(from).map_err(err)? {
        let entry = entry.map_err(err)?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(err)?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(err)?;
        }
    }
    Ok(())
}

pub(super) fn write_layout(work: &Path, layout: &Layout) -> Fallible<()> {
    let tmp = work.join("layout.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(layout).map_err(err)?).map_err(err)?;
    std::fs::rename(&tmp, layout_path(work)).map_err(err)
}

/// Reads the layout [`super::prepare()`] wrote.
pub fn read_layout(work: &Path) -> Fallible<Layout> {
    let bytes = std::fs::read(layout_path(work)).map_err(|e| format!("no W3 layout: {e}"))?;
    serde_json::from_slice(&bytes).map_err(err)
}

/// Where [`super::prepare()`] leaves the phone's copy of a room of the load.
pub(super) fn phone_copy(work: &Path, room: RoomId) -> PathBuf {
    work.join("phones").join(format!("{room}.automerge"))
}

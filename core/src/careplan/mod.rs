//! Care-plan data exchange (ケアプランデータ連携): the national standard CSV files imported into a
//! patient room as its current care plan (with every earlier import kept as history), and a
//! provider's visits of a month exported as the actuals file (`UPJSK`).
//!
//! Import is all or nothing: every file is read and checked first — names, Shift-JIS, column
//! counts and rules, file-name fields against the rows, one insured person across all files
//! and the room's profile — and only then is one change written. Errors name the file, line
//! and column ([`CsvIssue`]), never the values.
//!
//! In the room document, `care_plans/<import id>` holds one [`CarePlanImport`]; the newest
//! import that holds a plan (tables 1, 2 or the plan of table 6) is the current plan.

pub mod csv;

pub use csv::{Column, CsvIssue, FileKind, FileName};

use crate::error::CoreError;
use crate::ids::{EntryId, RoomId};
use crate::model::AuthorInfo;
use crate::people::{Author, Organisation, RoomKind};
use crate::room::{ChangeNote, Room, actor_of, codec};
use crate::store::{RoomHandle, RoomStore};
use crate::time::Timestamp;
use automerge::transaction::CommitOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why an import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum CarePlanError {
    /// The files broke the standard or do not fit the room; every issue found (up to 50).
    #[error("care-plan files are invalid: {}", summary(.0))]
    Invalid(Vec<CsvIssue>),
    /// The room or store failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}

fn summary(issues: &[CsvIssue]) -> String {
    let mut s: Vec<String> = issues.iter().take(5).map(ToString::to_string).collect();
    if issues.len() > 5 {
        s.push(format!("and {} more", issues.len() - 5));
    }
    s.join("; ")
}

/// One file as imported: its name's fields and its rows, each row keyed by column key (see
/// [`FileKind::columns`] for the keys and the Japanese column names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlanFile {
    /// The file's name as received.
    pub name: String,
    /// The fields of the name.
    pub file: FileName,
    /// The rows.
    pub rows: Vec<BTreeMap<String, String>>,
}

impl CarePlanFile {
    /// Which table.
    pub fn kind(&self) -> FileKind {
        self.file.kind
    }
}

/// One import into a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlanImport {
    /// Import id (key under `care_plans`).
    pub id: EntryId,
    /// When it was imported.
    pub imported_at: Timestamp,
    /// Who imported it.
    pub imported_by: AuthorInfo,
    /// 保険者番号.
    pub insurer_number: String,
    /// 被保険者番号.
    pub insured_number: String,
    /// The files, in the order given.
    pub files: Vec<CarePlanFile>,
}

impl CarePlanImport {
    /// The file of `kind`, if this import has one.
    pub fn file(&self, kind: FileKind) -> Option<&CarePlanFile> {
        self.files.iter().find(|f| f.kind() == kind)
    }

    /// Whether it holds a plan (tables 1, 2 or the plan of table 6), not only actuals.
    pub fn has_plan(&self) -> bool {
        self.files.iter().any(|f| {
            matches!(
                f.kind(),
                FileKind::Table1 | FileKind::Table2 | FileKind::Plan
            )
        })
    }
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// The import's id.
    pub id: EntryId,
    /// Each file's name, kind and number of rows.
    pub files: Vec<(String, FileKind, usize)>,
    /// The insured person's number the files are for.
    pub insured_number: String,
}

/// Reads and checks files without touching any room: what `import` does first. All files
/// must be for one insured person; at most one file of each kind.
pub fn parse(files: &[(String, Vec<u8>)]) -> Result<Vec<CarePlanFile>, CarePlanError> {
    let mut issues = Vec::new();
    let mut out = Vec::new();
    if files.is_empty() {
        issues.push(CsvIssue::file("(none)", "no files were given"));
    }
    let mut person: Option<(String, String, String)> = None; // insurer, insured, file
    for (name, bytes) in files {
        let file = match FileName::parse(name) {
            Ok(f) => f,
            Err(e) => {
                issues.push(e);
                continue;
            }
        };
        let base = file.render();
        if out.iter().any(|f: &CarePlanFile| f.kind() == file.kind) {
            issues.push(CsvIssue::file(
                &base,
                format!("a second {} file in one import", file.kind.prefix()),
            ));
            continue;
        }
        let records = match csv::read(&base, bytes) {
            Ok(r) => r,
            Err(mut e) => {
                issues.append(&mut e);
                continue;
            }
        };
        let before = issues.len();
        csv::check(&base, file.kind, &records, &mut issues);
        if issues.len() > before {
            continue;
        }
        let cols = file.kind.columns();
        let rows: Vec<BTreeMap<String, String>> = records
            .iter()
            .map(|r| {
                cols.iter()
                    .zip(&r.fields)
                    .map(|(c, v)| (c.key.to_string(), v.clone()))
                    .collect()
            })
            .collect();
        for (r, row) in records.iter().zip(&rows) {
            let at = |col: usize, problem: String| CsvIssue {
                file: base.clone(),
                line: Some(r.line),
                column: Some(col),
                column_name: Some(cols[col - 1].label.to_string()),
                problem,
            };
            let get = |k: &str| row.get(k).map_or("", String::as_str);
            match &person {
                None => {
                    person = Some((
                        get("insurer_number").to_string(),
                        get("insured_number").to_string(),
                        base.clone(),
                    ));
                }
                Some((insurer, insured, first)) => {
                    if get("insured_number") != insured {
                        issues.push(at(
                            3,
                            format!("the insured person's number differs from {first}"),
                        ));
                    }
                    if get("insurer_number") != insurer {
                        issues.push(at(2, format!("the insurer number differs from {first}")));
                    }
                }
            }
            if matches!(file.kind, FileKind::Plan | FileKind::Actuals) {
                check_table6(&file, row, &mut |c, p| issues.push(at(c, p.to_string())));
            }
        }
        out.push(CarePlanFile {
            name: name.clone(),
            file,
            rows,
        });
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        issues.truncate(50);
        Err(CarePlanError::Invalid(issues))
    }
}

/// The checks of a table-6 row against its file name and itself.
fn check_table6(
    file: &FileName,
    row: &BTreeMap<String, String>,
    issue: &mut dyn FnMut(usize, &str),
) {
    let get = |k: &str| row.get(k).map_or("", String::as_str);
    if get("month") != file.month {
        issue(4, "differs from the target month in the file name");
    }
    let (sender_col, receiver_col, class) = match file.kind {
        FileKind::Plan => (6, 7, "1"),
        _ => (7, 6, "2"),
    };
    let key = |c: usize| FileKind::Plan.columns()[c - 1].key;
    if get(key(sender_col)) != file.sender {
        issue(
            sender_col,
            "differs from the sender's office number in the file name",
        );
    }
    if get(key(receiver_col)) != file.receiver {
        issue(
            receiver_col,
            "differs from the receiver's office number in the file name",
        );
    }
    if get("plan_or_actual") != class {
        issue(
            14,
            if class == "1" {
                "must be 1 (予定) in a UPPLAN file"
            } else {
                "must be 2 (実績) in a UPJSK file"
            },
        );
    }
    let days_in_month = month_days(&file.month);
    let mut sum = 0u32;
    for (d, k) in csv::DAY_KEYS.iter().enumerate() {
        let n: u32 = get(k).parse().unwrap_or(0);
        if n > 0 && d as u32 >= days_in_month {
            issue(15 + d, "counts a day the month does not have");
        }
        sum += n;
    }
    if get("total").parse::<u32>().ok() != Some(sum) {
        issue(46, "is not the sum of the day counts");
    }
}

fn month_days(month: &str) -> u32 {
    let y: u16 = month.get(..4).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let m: u8 = month.get(4..).and_then(|s| s.parse().ok()).unwrap_or(1);
    (28..=31u8)
        .rev()
        .find(|d| crate::time::Date::new(y, m, *d).is_ok())
        .map_or(28, u32::from)
}

/// Imports files into a room in memory as one change (see [`import`] for the stored room).
/// The room must be a patient room's main document; if its profile records an insurer or
/// insured person's number, the files must carry the same.
pub fn import_into(
    room: &mut Room,
    author: &Author,
    now: Timestamp,
    files: &[(String, Vec<u8>)],
) -> Result<ImportSummary, CarePlanError> {
    if room.kind() != RoomKind::Patient || room.scope().is_some() {
        return Err(
            CoreError::Forbidden("care plans belong in a patient room's main document").into(),
        );
    }
    let parsed = parse(files)?;
    let first = parsed
        .first()
        .and_then(|f| f.rows.first())
        .cloned()
        .unwrap_or_default();
    let insured = first.get("insured_number").cloned().unwrap_or_default();
    let insurer = first.get("insurer_number").cloned().unwrap_or_default();
    let basic = room.profile()?.basic;
    let mut issues = Vec::new();
    let file0 = parsed.first().map(|f| f.file.render()).unwrap_or_default();
    if basic.insured_number.as_ref().is_some_and(|n| *n != insured) {
        issues.push(CsvIssue {
            file: file0.clone(),
            line: Some(1),
            column: Some(3),
            column_name: Some("被保険者番号".into()),
            problem: "differs from the insured person's number in the room's profile".into(),
        });
    }
    if basic.insurer_number.as_ref().is_some_and(|n| *n != insurer) {
        issues.push(CsvIssue {
            file: file0,
            line: Some(1),
            column: Some(2),
            column_name: Some("保険者番号".into()),
            problem: "differs from the insurer number in the room's profile".into(),
        });
    }
    if !issues.is_empty() {
        return Err(CarePlanError::Invalid(issues));
    }
    let import = CarePlanImport {
        id: EntryId::new(),
        imported_at: now,
        imported_by: AuthorInfo::from(author),
        insurer_number: insurer,
        insured_number: insured.clone(),
        files: parsed,
    };
    let value = serde_json::to_value(&import)
        .map_err(|_| CoreError::Malformed("care plan could not be encoded"))?;
    let doc = room.doc_mut();
    let plans = codec::map_at(doc, &automerge::ROOT, "care_plans")?
        .ok_or(CoreError::Malformed("the care_plans section is missing"))?;
    let actor = actor_of(author.device);
    if doc.get_actor() != &actor {
        doc.set_actor(actor);
    }
    codec::reconcile_key(doc, &plans, &import.id.to_string(), &value)?;
    let note = ChangeNote {
        op: "import_care_plan".into(),
        pro: author.professional,
        dev: author.device,
        target: Some(import.id.to_string()),
    };
    doc.commit_with(
        CommitOptions::default()
            .with_message(serde_json::to_string(&note).unwrap_or_default())
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(ImportSummary {
        id: import.id,
        files: import
            .files
            .iter()
            .map(|f| (f.name.clone(), f.kind(), f.rows.len()))
            .collect(),
        insured_number: insured,
    })
}

/// Imports the files (name, bytes) into the stored room: checked first, then written and
/// persisted as one change, so nothing is ever half-imported. The bindings (a file the app
/// picked) and `kizuna admin careplan import ROOM_ID FILE…` call this.
pub fn import(
    handle: &RoomHandle,
    author: &Author,
    now: Timestamp,
    files: &[(String, Vec<u8>)],
) -> Result<ImportSummary, CarePlanError> {
    // Check before taking the room, so a bad file costs no document load.
    parse(files)?;
    let mut outcome = None;
    let written = handle.write(|room| match import_into(room, author, now, files) {
        Ok(s) => Ok(s),
        Err(CarePlanError::Core(e)) => Err(e),
        Err(CarePlanError::Invalid(issues)) => {
            outcome = Some(issues);
            Err(CoreError::Forbidden("care-plan files do not fit the room"))
        }
    });
    match (written, outcome) {
        (_, Some(issues)) => Err(CarePlanError::Invalid(issues)),
        (Ok(s), None) => Ok(s),
        (Err(e), None) => Err(e.into()),
    }
}

/// Every import in the room, newest first.
pub fn history(room: &Room) -> Result<Vec<CarePlanImport>, CoreError> {
    let plans = codec::map_at(room.doc(), &automerge::ROOT, "care_plans")?
        .ok_or(CoreError::Malformed("the care_plans section is missing"))?;
    let map: BTreeMap<String, CarePlanImport> =
        codec::from_json(codec::read(room.doc(), &plans)?, "care plans")?;
    let mut out: Vec<CarePlanImport> = map.into_values().collect();
    out.sort_by_key(|i| std::cmp::Reverse((i.imported_at, i.id)));
    Ok(out)
}

/// The current care plan: the newest import that holds a plan.
pub fn current(room: &Room) -> Result<Option<CarePlanImport>, CoreError> {
    Ok(history(room)?.into_iter().find(CarePlanImport::has_plan))
}

/// Japan Standard Time parts of an instant: (year, month, day, hour, minute, second).
fn jst(t: Timestamp) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t.0.div_euclid(1000) + 9 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Builds the actuals file (`UPJSK`) of `provider_office` for `month` (`YYYYMM`) from the
/// plan's rows for that office and the visits' care times: each visit counts on its day (in
/// Japan time) in the row whose time slot holds it, else the row starting nearest to it.
/// Returns the standard file name and the Shift-JIS bytes.
pub fn actuals_file(
    history: &[CarePlanImport],
    provider_office: &str,
    month: &str,
    visits: &[Timestamp],
    now: Timestamp,
) -> Result<(String, Vec<u8>), CarePlanError> {
    let invalid = |p: &str| CarePlanError::Invalid(vec![CsvIssue::file(month, p)]);
    if !csv::valid_month(month) {
        return Err(invalid("the month must be YYYYMM"));
    }
    if !csv::digits(provider_office, &[10]) {
        return Err(invalid("the provider's office number must be 10 digits"));
    }
    let plan_rows = |same_month: bool| {
        history.iter().find_map(|imp| {
            let f = imp.file(FileKind::Plan)?;
            let rows: Vec<&BTreeMap<String, String>> = f
                .rows
                .iter()
                .filter(|r| r.get("provider_office").map(String::as_str) == Some(provider_office))
                .filter(|r| !same_month || r.get("month").map(String::as_str) == Some(month))
                .collect();
            (!rows.is_empty()).then_some(rows)
        })
    };
    let rows = plan_rows(true)
        .or_else(|| plan_rows(false))
        .ok_or_else(|| {
            invalid("the room holds no plan (UPPLAN) rows for this office; import the plan first")
        })?;
    let minutes = |s: Option<&String>| -> Option<u32> {
        let s = s.filter(|s| s.len() == 4)?;
        Some(s[..2].parse::<u32>().ok()? * 60 + s[2..].parse::<u32>().ok()?)
    };
    let mut counts = vec![[0u32; 31]; rows.len()];
    for v in visits {
        let (y, m, d, hh, mm, _) = jst(*v);
        if format!("{y:04}{m:02}") != month {
            continue;
        }
        let at = hh * 60 + mm;
        let best = rows
            .iter()
            .enumerate()
            .min_by_key(
                |(_, r)| match (minutes(r.get("start_time")), minutes(r.get("end_time"))) {
                    (Some(s), Some(e)) if s <= at && at < e => 0,
                    (Some(s), _) => 1 + s.abs_diff(at),
                    _ => 10_000,
                },
            )
            .map_or(0, |(i, _)| i);
        counts[best][(d - 1) as usize] += 1;
    }
    let (y, m, d, hh, mi, ss) = jst(now);
    let created = format!("{y:04}{m:02}{d:02}");
    let care_manager = rows[0]
        .get("care_manager_office")
        .cloned()
        .unwrap_or_default();
    let cols = FileKind::Actuals.columns();
    let mut out_rows = Vec::new();
    for (row, days) in rows.iter().zip(&counts) {
        let mut r: Vec<String> = cols
            .iter()
            .map(|c| row.get(c.key).cloned().unwrap_or_default())
            .collect();
        r[3] = month.to_string();
        r[4] = created.clone();
        r[13] = "2".to_string();
        for (i, n) in days.iter().enumerate() {
            r[14 + i] = if *n == 0 {
                String::new()
            } else {
                n.to_string()
            };
        }
        r[45] = days.iter().sum::<u32>().to_string();
        out_rows.push(r);
    }
    let name = FileName {
        kind: FileKind::Actuals,
        month: month.to_string(),
        sender: provider_office.to_string(),
        receiver: care_manager,
        created: format!("{created}{hh:02}{mi:02}{ss:02}"),
    }
    .render();
    let bytes = csv::write(&name, &out_rows).map_err(|e| CarePlanError::Invalid(vec![e]))?;
    Ok((name, bytes))
}

/// Exports a provider's visit records of `month` (`YYYYMM`, Japan time) in a patient room as
/// the actuals file `UPJSK`: the visits are the room's reports (the restricted documents this
/// device holds included) written by members of `provider` (by organisation name), not
/// withdrawn; the service rows come from the room's care plan. Returns (file name, bytes).
pub fn export_actuals(
    store: &RoomStore,
    room: RoomId,
    provider: &Organisation,
    month: &str,
    now: Timestamp,
) -> Result<(String, Vec<u8>), CarePlanError> {
    let office = provider.office_number.clone().ok_or_else(|| {
        CarePlanError::Invalid(vec![CsvIssue::file(
            month,
            "the provider has no office number",
        )])
    })?;
    let main = store.open_room(room)?;
    let history = main.read(|r| history(r))?;
    let mut visits = Vec::new();
    let mut docs = vec![main];
    for d in store.scoped_docs(room)? {
        docs.push(store.open_room(d)?);
    }
    for h in docs {
        h.read(|r| {
            for id in r.report_ids()? {
                let rep = r.report(id)?;
                if rep.author.organisation == provider.name && rep.withdrawn.is_none() {
                    visits.push(rep.content.care_time);
                }
            }
            Ok(())
        })?;
    }
    actuals_file(&history, &office, month, &visits, now)
}

//! The files of the national care-plan data exchange (ケアプランデータ連携): their names, the
//! columns of each table, Shift-JIS (MS932) CSV reading and writing, and column checks.
//!
//! Column lists: table 2 (`UP2KYO`, 22 columns) and the supplementary user information
//! (`UPHOSOKU`) follow `docs/domain.md`; table 1 (`UP1KYO`) and table 6 (`UPPLAN` plan / `UPJSK`
//! actuals, one row per service and time slot with a count for each day 1–31) follow the
//! structure of the published forms. Every row starts with the CSV version, the insurer
//! number and the insured person's number.

use serde::{Deserialize, Serialize};

mod columns;

pub use columns::{Column, DAY_KEYS, Rule, SUPPLEMENT, TABLE1, TABLE2, TABLE6};

/// One problem found in the files: which file, line and column, and the rule broken. Like
/// every error of the core, it never quotes the value (which may be patient data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvIssue {
    /// The file's name.
    pub file: String,
    /// 1-based line of the record (where it starts), if the problem is in one.
    pub line: Option<usize>,
    /// 1-based column, if the problem is in one.
    pub column: Option<usize>,
    /// The column's name, if known.
    pub column_name: Option<String>,
    /// The rule that was broken.
    pub problem: String,
}

impl std::fmt::Display for CsvIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        if let Some(c) = self.column {
            write!(f, " column {c}")?;
        }
        if let Some(n) = &self.column_name {
            write!(f, " ({n})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl CsvIssue {
    pub(crate) fn file(file: &str, problem: impl Into<String>) -> CsvIssue {
        CsvIssue {
            file: file.to_string(),
            line: None,
            column: None,
            column_name: None,
            problem: problem.into(),
        }
    }

    pub(crate) fn at(
        file: &str,
        line: usize,
        column: Option<usize>,
        problem: impl Into<String>,
    ) -> CsvIssue {
        CsvIssue {
            file: file.to_string(),
            line: Some(line),
            column,
            column_name: None,
            problem: problem.into(),
        }
    }
}

/// The five kinds of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FileKind {
    /// 第1表 居宅サービス計画書(1): intentions, overall policy, certification.
    #[serde(rename = "UP1KYO")]
    Table1,
    /// 第2表 居宅サービス計画書(2): issues, goals, services.
    #[serde(rename = "UP2KYO")]
    Table2,
    /// 第6表 サービス利用票 (plan): services and days planned for the month.
    #[serde(rename = "UPPLAN")]
    Plan,
    /// 第6表 (actuals, 実績): services provided, by day.
    #[serde(rename = "UPJSK")]
    Actuals,
    /// Supplementary user information (利用者補足情報).
    #[serde(rename = "UPHOSOKU")]
    Supplement,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 5] = [
        FileKind::Table1,
        FileKind::Table2,
        FileKind::Plan,
        FileKind::Actuals,
        FileKind::Supplement,
    ];

    /// The file-name prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            FileKind::Table1 => "UP1KYO",
            FileKind::Table2 => "UP2KYO",
            FileKind::Plan => "UPPLAN",
            FileKind::Actuals => "UPJSK",
            FileKind::Supplement => "UPHOSOKU",
        }
    }

    /// The columns of this kind of file, in order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            FileKind::Table1 => TABLE1,
            FileKind::Table2 => TABLE2,
            FileKind::Plan | FileKind::Actuals => TABLE6,
            FileKind::Supplement => SUPPLEMENT,
        }
    }
}

/// The fields of a standard file name: `KIND_YYYYMM_<sender 10>_<receiver 10>_YYYYMMDDHHMMSS.CSV`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileName {
    /// Which table.
    pub kind: FileKind,
    /// Target month, `YYYYMM`.
    pub month: String,
    /// Sender's office number.
    pub sender: String,
    /// Receiver's office number.
    pub receiver: String,
    /// When the file was made, `YYYYMMDDHHMMSS`.
    pub created: String,
}

impl FileName {
    /// Reads and checks a file name (any folder part is ignored).
    pub fn parse(name: &str) -> Result<FileName, CsvIssue> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let bad = |p: &str| CsvIssue::file(base, format!("file name: {p}"));
        let stem = base
            .strip_suffix(".CSV")
            .or_else(|| base.strip_suffix(".csv"))
            .ok_or_else(|| bad("must end in .CSV"))?;
        let parts: Vec<&str> = stem.split('_').collect();
        let [prefix, month, sender, receiver, created] = parts[..] else {
            return Err(bad(
                "must be KIND_YYYYMM_SENDER_RECEIVER_YYYYMMDDHHMMSS.CSV",
            ));
        };
        let kind = FileKind::ALL
            .into_iter()
            .find(|k| k.prefix() == prefix)
            .ok_or_else(|| bad("kind must be UP1KYO, UP2KYO, UPPLAN, UPJSK or UPHOSOKU"))?;
        if !valid_month(month) {
            return Err(bad("the target month must be YYYYMM"));
        }
        if !digits(sender, &[10]) {
            return Err(bad("the sender's office number must be 10 digits"));
        }
        if !digits(receiver, &[10]) {
            return Err(bad("the receiver's office number must be 10 digits"));
        }
        if created.len() != 14
            || !valid_date(&created[..8])
            || !digits(&created[8..], &[6])
            || created[8..10] > *"23"
            || created[10..12] > *"59"
            || created[12..14] > *"59"
        {
            return Err(bad("the creation time must be YYYYMMDDHHMMSS"));
        }
        Ok(FileName {
            kind,
            month: month.to_string(),
            sender: sender.to_string(),
            receiver: receiver.to_string(),
            created: created.to_string(),
        })
    }

    /// The file name these fields make.
    pub fn render(&self) -> String {
        format!(
            "{}_{}_{}_{}_{}.CSV",
            self.kind.prefix(),
            self.month,
            self.sender,
            self.receiver,
            self.created
        )
    }
}

pub(crate) fn digits(s: &str, lens: &[usize]) -> bool {
    lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn valid_month(s: &str) -> bool {
    digits(s, &[6])
        && (1900..=2200).contains(&s[..4].parse::<u16>().unwrap_or(0))
        && (1..=12).contains(&s[4..].parse::<u8>().unwrap_or(0))
}

pub(crate) fn valid_date(s: &str) -> bool {
    digits(s, &[8])
        && crate::time::Date::new(
            s[..4].parse().unwrap_or(0),
            s[4..6].parse().unwrap_or(0),
            s[6..].parse().unwrap_or(0),
        )
        .is_ok()
}

fn check_rule(rule: Rule, v: &str) -> Result<(), &'static str> {
    let ok = match rule {
        Rule::Any => true,
        Rule::Required => !v.trim().is_empty(),
        Rule::Digits(lens) => digits(v, lens),
        Rule::OptDigits(lens) => v.is_empty() || digits(v, lens),
        Rule::Insured => v.len() == 10 && v.bytes().all(|b| b.is_ascii_alphanumeric()),
        Rule::Date => valid_date(v),
        Rule::OptDate => v.is_empty() || valid_date(v),
        Rule::Month => valid_month(v),
        Rule::OptTime => v.is_empty() || (digits(v, &[4]) && v[..2] <= *"24" && v[2..] <= *"59"),
        Rule::OptCount => v.is_empty() || digits(v, &[1, 2]),
        Rule::Code(codes) => codes.contains(&v),
    };
    if ok {
        return Ok(());
    }
    Err(match rule {
        Rule::Any => "",
        Rule::Required => "is required",
        Rule::Digits(_) => "must be digits of the standard length",
        Rule::OptDigits(_) => "must be empty or digits of the standard length",
        Rule::Insured => "must be 10 letters or digits",
        Rule::Date => "must be a real date written YYYYMMDD",
        Rule::OptDate => "must be empty or a real date written YYYYMMDD",
        Rule::Month => "must be a month written YYYYMM",
        Rule::OptTime => "must be empty or a time written HHMM",
        Rule::OptCount => "must be empty or a count 0–99",
        Rule::Code(_) => "is not one of the standard codes",
    })
}

/// A record read from a file: its line and its decoded fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line: usize,
    /// The fields, decoded from Shift-JIS.
    pub fields: Vec<String>,
}

/// Reads a Shift-JIS (MS932) CSV file: quoted fields may hold commas, doubled quotes and line
/// breaks; lines end in CRLF or LF; empty lines are skipped. Every problem found is returned
/// (up to 50), each with its line and column.
pub fn read(file: &str, bytes: &[u8]) -> Result<Vec<Record>, Vec<CsvIssue>> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(vec![CsvIssue::file(
            file,
            "the file is UTF-8 (it has a byte-order mark); the standard requires Shift-JIS (MS932)",
        )]);
    }
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        return Err(vec![CsvIssue::file(
            file,
            "the file is UTF-8; the standard requires Shift-JIS (MS932)",
        )]);
    }
    let mut issues = Vec::new();
    let mut records = Vec::new();
    // In Shift-JIS, the bytes of `,`, `"`, CR and LF never occur inside a two-byte character,
    // so the file can be split before it is decoded, and a bad byte is placed exactly.
    let mut line = 1usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let start_line = line;
        let mut raw_fields: Vec<Vec<u8>> = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut at_field_start = true;
        let mut quote_problem = false;
        loop {
            let Some(&b) = bytes.get(i) else {
                if quoted {
                    quote_problem = true;
                }
                raw_fields.push(std::mem::take(&mut field));
                break;
            };
            i += 1;
            if quoted {
                match b {
                    b'"' if bytes.get(i) == Some(&b'"') => {
                        field.push(b'"');
                        i += 1;
                    }
                    b'"' => {
                        quoted = false;
                        if !matches!(bytes.get(i), None | Some(b',' | b'\r' | b'\n')) {
                            quote_problem = true;
                        }
                    }
                    b'\n' => {
                        line += 1;
                        field.push(b);
                    }
                    _ => field.push(b),
                }
                continue;
            }
            match b {
                b'"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                b',' => {
                    raw_fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                b'\r' if bytes.get(i) == Some(&b'\n') => {}
                b'\n' | b'\r' => {
                    line += 1;
                    raw_fields.push(std::mem::take(&mut field));
                    break;
                }
                _ => {
                    if b == b'"' {
                        quote_problem = true;
                    }
                    field.push(b);
                    at_field_start = false;
                }
            }
        }
        if quote_problem {
            issues.push(CsvIssue::at(
                file,
                start_line,
                None,
                "a quoted field is not closed properly",
            ));
        }
        if raw_fields.len() == 1 && raw_fields[0].is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(raw_fields.len());
        for (c, raw) in raw_fields.iter().enumerate() {
            match encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(raw) {
                Some(s) => fields.push(s.into_owned()),
                None => {
                    issues.push(CsvIssue::at(
                        file,
                        start_line,
                        Some(c + 1),
                        "is not valid Shift-JIS (MS932)",
                    ));
                    fields.push(String::new());
                }
            }
        }
        records.push(Record {
            line: start_line,
            fields,
        });
        if issues.len() >= 50 {
            break;
        }
    }
    if issues.is_empty() {
        Ok(records)
    } else {
        Err(issues)
    }
}

/// Checks every record against the columns of `kind`: count and rules.
pub fn check(file: &str, kind: FileKind, records: &[Record], issues: &mut Vec<CsvIssue>) {
    let cols = kind.columns();
    if records.is_empty() {
        issues.push(CsvIssue::file(file, "has no records"));
    }
    for r in records {
        if r.fields.len() != cols.len() {
            issues.push(CsvIssue::at(
                file,
                r.line,
                None,
                format!(
                    "has {} columns; {} has {}",
                    r.fields.len(),
                    kind.prefix(),
                    cols.len()
                ),
            ));
            continue;
        }
        for (i, (c, v)) in cols.iter().zip(&r.fields).enumerate() {
            if let Err(problem) = check_rule(c.rule, v) {
                issues.push(CsvIssue {
                    file: file.to_string(),
                    line: Some(r.line),
                    column: Some(i + 1),
                    column_name: Some(c.label.to_string()),
                    problem: problem.to_string(),
                });
            }
        }
        if issues.len() >= 50 {
            return;
        }
    }
}

/// Writes records as Shift-JIS (MS932) CSV with CRLF line ends, quoting fields that need it.
/// Characters Shift-JIS cannot hold are an error naming the line and column.
pub fn write(file: &str, rows: &[Vec<String>]) -> Result<Vec<u8>, CsvIssue> {
    let mut out = Vec::new();
    for (l, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if c > 0 {
                out.push(b',');
            }
            let text = if v.contains([',', '"', '\r', '\n']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.clone()
            };
            let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
            if unmappable {
                return Err(CsvIssue::at(
                    file,
                    l + 1,
                    Some(c + 1),
                    "holds a character Shift-JIS (MS932) cannot encode",
                ));
            }
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

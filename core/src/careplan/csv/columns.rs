//! The columns of each table (第1表, 第2表, 第6表, the supplementary user information) and the
//! rule each column's value must follow.

/// What a column must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anything, or nothing.
    Any,
    /// Some text.
    Required,
    /// Exactly one of these lengths of ASCII digits.
    Digits(&'static [usize]),
    /// ASCII digits of these lengths, or empty.
    OptDigits(&'static [usize]),
    /// Ten ASCII letters or digits (the insured person's number).
    Insured,
    /// A date `YYYYMMDD`.
    Date,
    /// A date `YYYYMMDD`, or empty.
    OptDate,
    /// A month `YYYYMM`.
    Month,
    /// A time `HHMM`, or empty.
    OptTime,
    /// A whole number 0–99, or empty.
    OptCount,
    /// One of these codes.
    Code(&'static [&'static str]),
}

/// One column: its stable key (used in the room), its Japanese name, and its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Stable key, e.g. `insured_number`.
    pub key: &'static str,
    /// Japanese name, as on the form.
    pub label: &'static str,
    /// What it must hold.
    pub rule: Rule,
}

const fn col(key: &'static str, label: &'static str, rule: Rule) -> Column {
    Column { key, label, rule }
}

const INSURER: Rule = Rule::Digits(&[6, 8]);
const OFFICE: Rule = Rule::Digits(&[10]);

/// 第1表.
pub const TABLE1: &[Column] = &[
    col("csv_version", "CSVバージョン", Rule::Required),
    col("insurer_number", "保険者番号", INSURER),
    col("insured_number", "被保険者番号", Rule::Insured),
    col("plan_created", "計画作成日", Rule::Date),
    col("plan_changed", "計画作成（変更）日", Rule::OptDate),
    col("creation_class", "作成区分", Rule::Code(&["1", "2", "3"])),
    col("certification_status", "認定区分", Rule::Code(&["1", "2"])),
    col(
        "first_plan_date",
        "初回居宅サービス計画作成日",
        Rule::OptDate,
    ),
    col("certified_on", "認定日", Rule::OptDate),
    col("certified_from", "認定の有効期間（開始）", Rule::OptDate),
    col("certified_to", "認定の有効期間（終了）", Rule::OptDate),
    col("care_level", "要介護状態区分", Rule::Required),
    col("intentions", "利用者及び家族の生活に対する意向", Rule::Any),
    col(
        "board_opinion",
        "介護認定審査会の意見及びサービスの種類の指定",
        Rule::Any,
    ),
    col("overall_policy", "総合的な援助の方針", Rule::Any),
    col(
        "household_help_reason",
        "生活援助中心型の算定理由",
        Rule::Any,
    ),
    col("vendor_code", "更新業者コード", Rule::Any),
    col("identifier", "識別子", Rule::Any),
];

/// 第2表 (22 columns, `docs/domain.md`).
pub const TABLE2: &[Column] = &[
    col("csv_version", "CSVバージョン", Rule::Required),
    col("insurer_number", "保険者番号", INSURER),
    col("insured_number", "被保険者番号", Rule::Insured),
    col("plan_created", "計画作成日", Rule::Date),
    col("plan_changed", "計画作成（変更）日", Rule::OptDate),
    col("issue_no", "課題番号", Rule::Digits(&[1, 2, 3])),
    col(
        "issue",
        "生活全般の解決すべき課題（ニーズ）",
        Rule::Required,
    ),
    col("goal_no", "目標番号", Rule::Digits(&[1, 2, 3])),
    col("long_term_goal", "長期目標", Rule::Any),
    col("short_term_goal", "短期目標", Rule::Any),
    col("long_term_period", "長期目標の期間", Rule::Any),
    col("short_term_period", "短期目標の期間", Rule::Any),
    col("service_no", "サービス内容番号", Rule::Digits(&[1, 2, 3])),
    col("service_content", "サービス内容", Rule::Any),
    col(
        "insurance_category",
        "保険給付対象区分",
        Rule::Code(&["", "0", "1"]),
    ),
    col("service_type", "サービス種別", Rule::Any),
    col("provider_code", "事業所番号", Rule::OptDigits(&[10])),
    col("office_name", "事業所名", Rule::Any),
    col("frequency", "頻度", Rule::Any),
    col("period", "期間", Rule::Any),
    col("vendor_code", "更新業者コード", Rule::Any),
    col("identifier", "識別子", Rule::Any),
];

/// The columns of day counts in table 6 (`day_01` … `day_31`).
pub const DAY_KEYS: [&str; 31] = [
    "day_01", "day_02", "day_03", "day_04", "day_05", "day_06", "day_07", "day_08", "day_09",
    "day_10", "day_11", "day_12", "day_13", "day_14", "day_15", "day_16", "day_17", "day_18",
    "day_19", "day_20", "day_21", "day_22", "day_23", "day_24", "day_25", "day_26", "day_27",
    "day_28", "day_29", "day_30", "day_31",
];

const DAY_LABELS: [&str; 31] = [
    "1日", "2日", "3日", "4日", "5日", "6日", "7日", "8日", "9日", "10日", "11日", "12日", "13日",
    "14日", "15日", "16日", "17日", "18日", "19日", "20日", "21日", "22日", "23日", "24日", "25日",
    "26日", "27日", "28日", "29日", "30日", "31日",
];

macro_rules! table6 {
    ($($d:literal),*) => {
        &[
            col("csv_version", "CSVバージョン", Rule::Required),
            col("insurer_number", "保険者番号", INSURER),
            col("insured_number", "被保険者番号", Rule::Insured),
            col("month", "対象年月", Rule::Month),
            col("created", "作成年月日", Rule::Date),
            col("care_manager_office", "居宅介護支援事業所番号", OFFICE),
            col("provider_office", "サービス事業所番号", OFFICE),
            col("provider_name", "サービス事業所名", Rule::Any),
            col("service_type_code", "サービス種類コード", Rule::Digits(&[2])),
            col("service_item_code", "サービス項目コード", Rule::Digits(&[4])),
            col("service_name", "サービス内容", Rule::Any),
            col("start_time", "提供開始時刻", Rule::OptTime),
            col("end_time", "提供終了時刻", Rule::OptTime),
            col("plan_or_actual", "予定実績区分", Rule::Code(&["1", "2"])),
            $(col(DAY_KEYS[$d], DAY_LABELS[$d], Rule::OptCount),)*
            col("total", "合計回数", Rule::Digits(&[1, 2, 3])),
            col("vendor_code", "更新業者コード", Rule::Any),
            col("identifier", "識別子", Rule::Any),
        ]
    };
}

/// 第6表 (plan `UPPLAN` and actuals `UPJSK`): 17 columns and the 31 days.
pub const TABLE6: &[Column] = table6!(
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30
);

/// Supplementary user information (`docs/domain.md`).
pub const SUPPLEMENT: &[Column] = &[
    col("csv_version", "CSVバージョン", Rule::Required),
    col("insurer_number", "保険者番号", INSURER),
    col("insured_number", "被保険者番号", Rule::Insured),
    col("kana", "利用者氏名（カナ）", Rule::Required),
    col("name", "利用者氏名", Rule::Required),
    col("sex", "性別", Rule::Code(&["1", "2"])),
    col("birth_date", "生年月日", Rule::Date),
    col("address", "住所", Rule::Any),
    col("phone", "電話番号", Rule::Any),
    col("certified_on", "認定日", Rule::OptDate),
    col("vendor_code", "更新業者コード", Rule::Any),
    col("identifier", "識別子", Rule::Any),
];

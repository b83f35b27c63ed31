//! The console's words in Japanese (the default) and English. Each text is a field of
//! [`Text`], so a page that names a text both languages lack does not compile, and adding a
//! text means adding it to both [`JA`] and [`EN`].
//!
//! The language is `?lang=en|ja` (remembered in a cookie) or the cookie alone; Japanese
//! otherwise. Profession names come from the core (`Profession::label_ja`, and the key in
//! English).

use kizuna_core::{Profession, Role, Timestamp};

/// The cookie that remembers the language.
pub const LANG_COOKIE: &str = "kizuna-lang";

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (default).
    Ja,
    /// English.
    En,
}

impl Lang {
    /// From `ja`/`en`.
    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The code (`ja`, `en`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The other language's code (for the switch).
    pub fn other(self) -> &'static str {
        match self {
            Lang::Ja => "en",
            Lang::En => "ja",
        }
    }

    /// The texts.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// A profession's name.
    pub fn profession(self, p: Profession) -> String {
        match self {
            Lang::Ja => p.label_ja().to_string(),
            Lang::En => p.key().replace('_', " "),
        }
    }

    /// A role's name.
    pub fn role(self, r: Role) -> &'static str {
        match r {
            Role::Writer => self.text().role_writer,
            Role::Reader => self.text().role_reader,
        }
    }

    /// A time for people: Japan time, to the minute (`2025-04-03 14:05`), in both languages
    /// (a city in Japan reads Japan time).
    pub fn when(self, t: Timestamp) -> String {
        let Ok(utc) = time::OffsetDateTime::from_unix_timestamp(t.0.div_euclid(1000)) else {
            return t.to_string();
        };
        let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
        let jst = utc.to_offset(offset);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            jst.year(),
            u8::from(jst.month()),
            jst.day(),
            jst.hour(),
            jst.minute()
        )
    }
}

/// Every text of the console.
#[derive(Debug)]
pub struct Text {
    /// Kizuna 管理コンソール
    pub app: &'static str,
    /// English
    pub switch_lang: &'static str,
    /// 専門職
    pub nav_professionals: &'static str,
    /// 端末
    pub nav_devices: &'static str,
    /// 患者のお部屋
    pub nav_rooms: &'static str,
    /// お知らせ・アラート
    pub nav_notices: &'static str,
    /// ケアプラン取込
    pub nav_careplans: &'static str,
    /// 監査ログ
    pub nav_audit: &'static str,
    /// ログアウト
    pub logout: &'static str,
    /// 管理者ログイン
    pub title_login: &'static str,
    /// 概要
    pub title_home: &'static str,
    /// 専門職
    pub title_professionals: &'static str,
    /// 端末
    pub title_devices: &'static str,
    /// 患者のお部屋
    pub title_rooms: &'static str,
    /// お知らせ・災害/感染症アラート
    pub title_notices: &'static str,
    /// 監査ログ
    pub title_audit: &'static str,
    /// ケアプランデータ取込
    pub title_careplans: &'static str,
    /// 端末登録用QRコード
    pub title_enroll: &'static str,
    /// ログイン
    pub login: &'static str,
    /// ログイン名・パスワードと認証アプリのワンタイムコードを入力してください。
    pub login_intro: &'static str,
    /// 管理者の電子証明書を確認しました
    pub login_cert_recognised: &'static str,
    /// ログイン名
    pub login_name: &'static str,
    /// パスワード
    pub password: &'static str,
    /// ワンタイムコード(6桁)
    pub totp_code: &'static str,
    /// 2要素認証: 電子証明書またはパスワード + 認証アプリのコード。設定は kizuna admin console-setup で行います。
    pub login_hint: &'static str,
    /// ログインできませんでした。入力内容を確認してください。
    pub login_failed: &'static str,
    /// 試行回数が多すぎます。しばらく待ってからやり直してください。
    pub login_throttled: &'static str,
    /// ログアウトしました。
    pub logged_out: &'static str,
    /// セッションが終了しました。もう一度ログインしてください。
    pub session_expired: &'static str,
    /// 名の専門職
    pub stat_professionals: &'static str,
    /// 台の有効な端末
    pub stat_active_devices: &'static str,
    /// 件の患者のお部屋
    pub stat_patient_rooms: &'static str,
    /// 件の今週のケアレポート
    pub stat_reports_week: &'static str,
    /// 証明書の発行待ち(有効な端末なし)
    pub waiting_for_certificate: &'static str,
    /// 失効した端末(紛失・盗難・退職)
    pub lost_devices: &'static str,
    /// 今週活発なお部屋
    pub busy_rooms: &'static str,
    /// ありません
    pub none: &'static str,
    /// 氏名
    pub name: &'static str,
    /// ふりがな
    pub kana: &'static str,
    /// 職種
    pub profession: &'static str,
    /// 事業所
    pub organisation: &'static str,
    /// 事業所番号(10桁・任意)
    pub office_number: &'static str,
    /// 端末
    pub devices: &'static str,
    /// 最終同期
    pub last_sync: &'static str,
    /// 専門職を登録
    pub register_professional: &'static str,
    /// 登録
    pub register: &'static str,
    /// 編集
    pub edit: &'static str,
    /// 保存
    pub save: &'static str,
    /// 有効時間(時間)
    pub valid_hours: &'static str,
    /// 端末登録用QRコードを発行
    pub new_enroll_code: &'static str,
    /// お部屋
    pub rooms: &'static str,
    /// 登録を削除
    pub remove_professional: &'static str,
    /// すべてのお部屋から外れ、すべての端末が失効し、端末内のデータ消去が指示されます。
    pub remove_professional_explain: &'static str,
    /// 確認しました
    pub confirm: &'static str,
    /// 削除
    pub remove: &'static str,
    /// 専門職
    pub professional: &'static str,
    /// 端末名
    pub label: &'static str,
    /// 登録日時
    pub enrolled: &'static str,
    /// 状態
    pub status: &'static str,
    /// 失効
    pub revoke: &'static str,
    /// 失効+データ消去
    pub revoke_wipe: &'static str,
    /// データ消去を指示
    pub order_wipe: &'static str,
    /// 新しい端末のKizunaアプリでこのQRコードを読み取ってください。コードは1回限り有効です。
    pub enroll_explain: &'static str,
    /// 登録コード
    pub enroll_code: &'static str,
    /// 有効期限
    pub expires: &'static str,
    /// 接続先
    pub relay_url: &'static str,
    /// CAフィンガープリント
    pub ca_fingerprint: &'static str,
    /// PNGをダウンロード
    pub download_png: &'static str,
    /// 戻る
    pub back: &'static str,
    /// 紛失・盗難の端末は直ちに失効させてください。次の通信から拒否されます。
    pub devices_explain: &'static str,
    /// 利用者
    pub patient: &'static str,
    /// 同意
    pub consent: &'static str,
    /// メンバー
    pub members: &'static str,
    /// 今週のレポート
    pub reports_this_week: &'static str,
    /// 未読の「特に読んでほしい」
    pub unread_must_reads: &'static str,
    /// 活動状況は件数のみで、ケアの内容は表示しません。
    pub rooms_explain: &'static str,
    /// お部屋を作成
    pub create_room: &'static str,
    /// 利用者氏名
    pub patient_name: &'static str,
    /// 同意の記録
    pub consent_record: &'static str,
    /// 同意者
    pub consent_by: &'static str,
    /// 続柄
    pub consent_relation: &'static str,
    /// 同意日
    pub consent_date: &'static str,
    /// 同意取得者
    pub consent_obtained_by: &'static str,
    /// 同意書のスキャン
    pub consent_form: &'static str,
    /// 同意書スキャンの添付は添付ファイル機能(issue 5)の完成後に対応します。
    pub consent_scan_note: &'static str,
    /// 作成
    pub create: &'static str,
    /// このお部屋はアーカイブ済みです。端末とは同期されません。
    pub room_archived: &'static str,
    /// レポート総数
    pub reports_total: &'static str,
    /// 最新の投稿
    pub last_post: &'static str,
    /// 役割
    pub role: &'static str,
    /// 書き込み可
    pub role_writer: &'static str,
    /// 閲覧のみ
    pub role_reader: &'static str,
    /// 書き込み可にする
    pub make_writer: &'static str,
    /// 閲覧のみにする
    pub make_reader: &'static str,
    /// 招待
    pub invite: &'static str,
    /// ケアプラン
    pub care_plans: &'static str,
    /// ケアプランを取り込む
    pub import_care_plan: &'static str,
    /// アーカイブ
    pub archive: &'static str,
    /// アーカイブを解除
    pub restore: &'static str,
    /// アーカイブするとメンバーの端末から消え、同期されなくなります。記録と監査ログは中継サーバーに残ります。
    pub archive_explain: &'static str,
    /// お知らせ・アラートを投稿
    pub post_notice: &'static str,
    /// 投稿先
    pub notice_room: &'static str,
    /// 市からのお知らせ
    pub room_notices: &'static str,
    /// 災害・感染症アラート
    pub room_alerts: &'static str,
    /// 件名
    pub title: &'static str,
    /// 本文
    pub body: &'static str,
    /// 重要度
    pub importance: &'static str,
    /// 投稿
    pub post: &'static str,
    /// 期限切れ
    pub expired: &'static str,
    /// 既読
    pub read_by: &'static str,
    /// お部屋
    pub room: &'static str,
    /// 開始
    pub since: &'static str,
    /// 終了
    pub until: &'static str,
    /// 絞り込み
    pub filter: &'static str,
    /// 改ざん検証
    pub verify_chain: &'static str,
    /// JSON Lines で書き出し
    pub export_jsonl: &'static str,
    /// 日時
    pub time: &'static str,
    /// 誰が
    pub who: &'static str,
    /// 操作
    pub action: &'static str,
    /// 対象
    pub subject: &'static str,
    /// 詳細
    pub details: &'static str,
    /// 改ざんは見つかりませんでした。検証した記録数:
    pub audit_intact: &'static str,
    /// 改ざんを検出しました。最初に壊れている記録:
    pub audit_broken: &'static str,
    /// 新しい順に表示(最大)
    pub audit_shown: &'static str,
    /// ケアプランデータ連携の標準CSV(Shift-JIS、UPPLAN/UP1KYO/UP2KYO/UPJSK/UPHOSOKU)を選んでください。すべてのファイルを検査してから、1回の変更として取り込みます。
    pub careplan_explain: &'static str,
    /// ファイル
    pub files: &'static str,
    /// 取り込む
    pub import: &'static str,
    /// 取り込みました
    pub imported: &'static str,
    /// 有効
    pub status_active: &'static str,
    /// 失効
    pub status_revoked: &'static str,
    /// 失効・消去指示
    pub status_revoked_wipe: &'static str,
    /// なし
    pub never: &'static str,
    /// アーカイブ済み
    pub archived: &'static str,
    /// 利用中
    pub open: &'static str,
    /// 登録しました
    pub done_registered: &'static str,
    /// 保存しました
    pub done_saved: &'static str,
    /// 削除しました
    pub done_removed: &'static str,
    /// 招待しました
    pub done_invited: &'static str,
    /// メンバーから外しました
    pub done_member_removed: &'static str,
    /// 端末を失効させました
    pub done_revoked: &'static str,
    /// 端末を失効させ、データ消去を指示しました
    pub done_revoked_wipe: &'static str,
    /// お部屋を作成しました
    pub done_room_created: &'static str,
    /// Flash after attaching the scanned consent form.
    pub done_consent_form: &'static str,
    /// Button that sends a file.
    pub upload: &'static str,
    /// アーカイブしました
    pub done_archived: &'static str,
    /// アーカイブを解除しました
    pub done_restored: &'static str,
    /// 投稿しました
    pub done_posted: &'static str,
    /// エラー
    pub error: &'static str,
    /// フォームの有効期限が切れました。ページを再読み込みしてやり直してください。
    pub error_csrf: &'static str,
    /// 内部エラーが発生しました。
    pub error_internal: &'static str,
    /// 見つかりません
    pub error_not_found: &'static str,
    /// 確認欄にチェックしてください
    pub error_confirm: &'static str,
    /// 行
    pub careplan_rows: &'static str,
}

/// 日本語.
pub static JA: Text = Text {
    app: "Kizuna 管理コンソール",
    switch_lang: "English",
    nav_professionals: "専門職",
    nav_devices: "端末",
    nav_rooms: "患者のお部屋",
    nav_notices: "お知らせ・アラート",
    nav_careplans: "ケアプラン取込",
    nav_audit: "監査ログ",
    logout: "ログアウト",
    title_login: "管理者ログイン",
    title_home: "概要",
    title_professionals: "専門職",
    title_devices: "端末",
    title_rooms: "患者のお部屋",
    title_notices: "お知らせ・災害/感染症アラート",
    title_audit: "監査ログ",
    title_careplans: "ケアプランデータ取込",
    title_enroll: "端末登録用QRコード",
    login: "ログイン",
    login_intro: "ログイン名・パスワードと認証アプリのワンタイムコードを入力してください。",
    login_cert_recognised: "管理者の電子証明書を確認しました",
    login_name: "ログイン名",
    password: "パスワード",
    totp_code: "ワンタイムコード(6桁)",
    login_hint: "2要素認証: 電子証明書またはパスワード + 認証アプリのコード。設定は kizuna admin console-setup で行います。",
    login_failed: "ログインできませんでした。入力内容を確認してください。",
    login_throttled: "試行回数が多すぎます。しばらく待ってからやり直してください。",
    logged_out: "ログアウトしました。",
    session_expired: "セッションが終了しました。もう一度ログインしてください。",
    stat_professionals: "名の専門職",
    stat_active_devices: "台の有効な端末",
    stat_patient_rooms: "件の患者のお部屋",
    stat_reports_week: "件の今週のケアレポート",
    waiting_for_certificate: "証明書の発行待ち(有効な端末なし)",
    lost_devices: "失効した端末(紛失・盗難・退職)",
    busy_rooms: "今週活発なお部屋",
    none: "ありません",
    name: "氏名",
    kana: "ふりがな",
    profession: "職種",
    organisation: "事業所",
    office_number: "事業所番号(10桁・任意)",
    devices: "端末",
    last_sync: "最終同期",
    register_professional: "専門職を登録",
    register: "登録",
    edit: "編集",
    save: "保存",
    valid_hours: "有効時間(時間)",
    new_enroll_code: "端末登録用QRコードを発行",
    rooms: "お部屋",
    remove_professional: "登録を削除",
    remove_professional_explain: "すべてのお部屋から外れ、すべての端末が失効し、端末内のデータ消去が指示されます。",
    confirm: "確認しました",
    remove: "削除",
    professional: "専門職",
    label: "端末名",
    enrolled: "登録日時",
    status: "状態",
    revoke: "失効",
    revoke_wipe: "失効+データ消去",
    order_wipe: "データ消去を指示",
    enroll_explain: "新しい端末のKizunaアプリでこのQRコードを読み取ってください。コードは1回限り有効です。",
    enroll_code: "登録コード",
    expires: "有効期限",
    relay_url: "接続先",
    ca_fingerprint: "CAフィンガープリント",
    download_png: "PNGをダウンロード",
    back: "戻る",
    devices_explain: "紛失・盗難の端末は直ちに失効させてください。次の通信から拒否されます。",
    patient: "利用者",
    consent: "同意",
    members: "メンバー",
    reports_this_week: "今週のレポート",
    unread_must_reads: "未読の「特に読んでほしい」",
    rooms_explain: "活動状況は件数のみで、ケアの内容は表示しません。",
    create_room: "お部屋を作成",
    patient_name: "利用者氏名",
    consent_record: "同意の記録",
    consent_by: "同意者",
    consent_relation: "続柄",
    consent_date: "同意日",
    consent_obtained_by: "同意取得者",
    consent_form: "同意書のスキャン",
    consent_scan_note: "同意書のスキャン(PDF・JPEG・PNG)は、作成後にお部屋のページで添付できます。",
    create: "作成",
    room_archived: "このお部屋はアーカイブ済みです。端末とは同期されません。",
    reports_total: "レポート総数",
    last_post: "最新の投稿",
    role: "役割",
    role_writer: "書き込み可",
    role_reader: "閲覧のみ",
    make_writer: "書き込み可にする",
    make_reader: "閲覧のみにする",
    invite: "招待",
    care_plans: "ケアプラン",
    import_care_plan: "ケアプランを取り込む",
    archive: "アーカイブ",
    restore: "アーカイブを解除",
    archive_explain: "アーカイブするとメンバーの端末から消え、同期されなくなります。記録と監査ログは中継サーバーに残ります。",
    post_notice: "お知らせ・アラートを投稿",
    notice_room: "投稿先",
    room_notices: "市からのお知らせ",
    room_alerts: "災害・感染症アラート",
    title: "件名",
    body: "本文",
    importance: "重要度",
    post: "投稿",
    expired: "期限切れ",
    read_by: "既読",
    room: "お部屋",
    since: "開始",
    until: "終了",
    filter: "絞り込み",
    verify_chain: "改ざん検証",
    export_jsonl: "JSON Lines で書き出し",
    time: "日時",
    who: "誰が",
    action: "操作",
    subject: "対象",
    details: "詳細",
    audit_intact: "改ざんは見つかりませんでした。検証した記録数:",
    audit_broken: "改ざんを検出しました。最初に壊れている記録:",
    audit_shown: "新しい順に表示(最大)",
    careplan_explain: "ケアプランデータ連携の標準CSV(Shift-JIS、UPPLAN/UP1KYO/UP2KYO/UPJSK/UPHOSOKU)を選んでください。すべてのファイルを検査してから、1回の変更として取り込みます。",
    files: "ファイル",
    import: "取り込む",
    imported: "取り込みました",
    status_active: "有効",
    status_revoked: "失効",
    status_revoked_wipe: "失効・消去指示",
    never: "なし",
    archived: "アーカイブ済み",
    open: "利用中",
    done_registered: "登録しました",
    done_saved: "保存しました",
    done_removed: "削除しました",
    done_invited: "招待しました",
    done_member_removed: "メンバーから外しました",
    done_revoked: "端末を失効させました",
    done_revoked_wipe: "端末を失効させ、データ消去を指示しました",
    done_room_created: "お部屋を作成しました",
    done_consent_form: "同意書のスキャンを添付しました",
    upload: "アップロード",
    done_archived: "アーカイブしました",
    done_restored: "アーカイブを解除しました",
    done_posted: "投稿しました",
    error: "エラー",
    error_csrf: "フォームの有効期限が切れました。ページを再読み込みしてやり直してください。",
    error_internal: "内部エラーが発生しました。",
    error_not_found: "見つかりません",
    error_confirm: "確認欄にチェックしてください",
    careplan_rows: "行",
};

/// English.
pub static EN: Text = Text {
    app: "Kizuna admin console",
    switch_lang: "日本語",
    nav_professionals: "Professionals",
    nav_devices: "Devices",
    nav_rooms: "Patient rooms",
    nav_notices: "Notices & alerts",
    nav_careplans: "Care-plan import",
    nav_audit: "Audit log",
    logout: "Log out",
    title_login: "Administrator login",
    title_home: "Overview",
    title_professionals: "Professionals",
    title_devices: "Devices",
    title_rooms: "Patient rooms",
    title_notices: "City notices and disaster/infection alerts",
    title_audit: "Audit log",
    title_careplans: "Care-plan data import",
    title_enroll: "Enrollment QR code",
    login: "Log in",
    login_intro: "Enter your login name, password and the one-time code from your authenticator app.",
    login_cert_recognised: "Administrator certificate recognised",
    login_name: "Login name",
    password: "Password",
    totp_code: "One-time code (6 digits)",
    login_hint: "Two factors: the client certificate or a password, plus the authenticator-app code. Set them up with kizuna admin console-setup.",
    login_failed: "Login failed. Check what you entered.",
    login_throttled: "Too many attempts. Wait a while and try again.",
    logged_out: "You have logged out.",
    session_expired: "Your session has ended. Please log in again.",
    stat_professionals: "professionals",
    stat_active_devices: "active devices",
    stat_patient_rooms: "patient rooms",
    stat_reports_week: "care reports this week",
    waiting_for_certificate: "Waiting for a certificate (no active device)",
    lost_devices: "Revoked devices (lost, stolen, left)",
    busy_rooms: "Busiest rooms this week",
    none: "None",
    name: "Name",
    kana: "Name in kana",
    profession: "Profession",
    organisation: "Organisation",
    office_number: "Office number (10 digits, optional)",
    devices: "Devices",
    last_sync: "Last sync",
    register_professional: "Register a professional",
    register: "Register",
    edit: "Edit",
    save: "Save",
    valid_hours: "Valid for (hours)",
    new_enroll_code: "Issue an enrollment QR code",
    rooms: "Rooms",
    remove_professional: "Remove registration",
    remove_professional_explain: "They leave every room, and every device of theirs is revoked and told to erase its data.",
    confirm: "I confirm",
    remove: "Remove",
    professional: "Professional",
    label: "Label",
    enrolled: "Enrolled",
    status: "Status",
    revoke: "Revoke",
    revoke_wipe: "Revoke and wipe",
    order_wipe: "Order a wipe",
    enroll_explain: "Scan this QR code with the Kizuna app on the new device. The code works once.",
    enroll_code: "Enrollment code",
    expires: "Expires",
    relay_url: "Relay URL",
    ca_fingerprint: "CA fingerprint",
    download_png: "Download PNG",
    back: "Back",
    devices_explain: "Revoke a lost or stolen device at once: it is refused from its next request.",
    patient: "Patient",
    consent: "Consent",
    members: "Members",
    reports_this_week: "Reports this week",
    unread_must_reads: "Unread must-reads",
    rooms_explain: "Activity shows counts only, never care content.",
    create_room: "Create a room",
    patient_name: "Patient's name",
    consent_record: "Consent record",
    consent_by: "Consent given by",
    consent_relation: "Relation",
    consent_date: "Date of consent",
    consent_obtained_by: "Consent obtained by",
    consent_form: "Scanned consent form",
    consent_scan_note: "Attach the scanned form (PDF, JPEG or PNG) on the room's page after creating it.",
    create: "Create",
    room_archived: "This room is archived: no device syncs it.",
    reports_total: "Reports in all",
    last_post: "Newest post",
    role: "Role",
    role_writer: "Writer",
    role_reader: "Reader",
    make_writer: "Make writer",
    make_reader: "Make reader",
    invite: "Invite",
    care_plans: "Care plans",
    import_care_plan: "Import a care plan",
    archive: "Archive",
    restore: "Restore",
    archive_explain: "Archiving removes the room from members' devices and stops its sync; its records and audit trail stay on the relay.",
    post_notice: "Post a notice or alert",
    notice_room: "Post to",
    room_notices: "City notices",
    room_alerts: "Disaster and infection alerts",
    title: "Title",
    body: "Text",
    importance: "Importance",
    post: "Post",
    expired: "expired",
    read_by: "Read by",
    room: "Room",
    since: "From",
    until: "Until",
    filter: "Filter",
    verify_chain: "Verify the chain",
    export_jsonl: "Export as JSON lines",
    time: "Time",
    who: "Who",
    action: "Action",
    subject: "Subject",
    details: "Details",
    audit_intact: "The chain is intact. Records checked:",
    audit_broken: "The chain is broken. First broken record:",
    audit_shown: "Newest first, at most",
    careplan_explain: "Choose the standard care-plan CSV files (Shift-JIS: UPPLAN, UP1KYO, UP2KYO, UPJSK, UPHOSOKU). Every file is checked first, then all are imported as one change.",
    files: "Files",
    import: "Import",
    imported: "Imported",
    status_active: "active",
    status_revoked: "revoked",
    status_revoked_wipe: "revoked, wipe ordered",
    never: "never",
    archived: "archived",
    open: "open",
    done_registered: "Registered",
    done_saved: "Saved",
    done_removed: "Removed",
    done_invited: "Invited",
    done_member_removed: "Removed from the room",
    done_revoked: "Device revoked",
    done_revoked_wipe: "Device revoked and told to wipe",
    done_room_created: "Room created",
    done_consent_form: "Scanned consent form attached",
    upload: "Upload",
    done_archived: "Archived",
    done_restored: "Restored",
    done_posted: "Posted",
    error: "Error",
    error_csrf: "The form has expired. Reload the page and try again.",
    error_internal: "An internal error occurred.",
    error_not_found: "Not found",
    error_confirm: "Tick the confirmation box",
    careplan_rows: "rows",
};

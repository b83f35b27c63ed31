//! The console's words in Japanese (the default) and English. Each text is a field of
//! [`Text`], so a page that names a text both languages lack does not compile, and adding a
//! text means adding it to both [`JA`] and [`EN`].
//!
//! The language is `?lang=en|ja` (remembered in a cookie) or the cookie alone; Japanese
//! otherwise. Profession names come from the core (`Profession::label_ja`, and the key in
//! English).

use kizuna_core::{Profession, Role, Timestamp};

mod en;
mod ja;

pub use en::EN;
pub use ja::JA;

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

    /// A profession's name (core's or the contract's spelling of it).
    pub fn profession(self, p: impl Into<Profession>) -> String {
        let p: Profession = p.into();
        match self {
            Lang::Ja => p.label_ja().to_string(),
            Lang::En => p.key().replace('_', " "),
        }
    }

    /// A role's name.
    pub fn role(self, r: impl Into<Role>) -> &'static str {
        match r.into() {
            Role::Writer => self.text().role_writer,
            Role::Reader => self.text().role_reader,
        }
    }

    /// How many whole days are left, as a short note beside a date.
    pub fn days_left(self, days: i64) -> String {
        match self {
            Lang::Ja => format!("残り{days}日"),
            Lang::En if days == 1 => "1 day left".to_string(),
            Lang::En => format!("{days} days left"),
        }
    }

    /// A time for people: Japan time, to the minute (`2025-04-03 14:05`), in both languages
    /// (a city in Japan reads Japan time).
    pub fn when(self, t: impl Into<Timestamp>) -> String {
        let t: Timestamp = t.into();
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
    /// 証明書の期限
    pub cert_expiry: &'static str,
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

//! Japanese-aware folding of text for search, and the character bigrams the index is built of.
//!
//! Folding, applied alike to indexed text and to queries:
//! - NFKC, cluster by cluster (a base character with the marks that follow it, so half-width
//!   `ｶﾞ` becomes `ガ` and the stand-alone marks `゛゜` join the kana before them);
//! - full-width and half-width forms become one (NFKC), Latin letters lower case;
//! - hiragana becomes katakana, and small kana become large (`ょ` = `ヨ`, as in the
//!   upper-case kana of legacy systems: `シヨウコ` finds `ショウコ`);
//! - common variant kanji of names become their usual form (`髙` = `高`, `邊` = `辺`);
//! - white space is dropped (Japanese has no word spaces; `佐藤 花子` finds `佐藤花子`).
//!
//! Every folded character remembers the byte range of the original text it came from, so a
//! match found in folded text is shown in the original.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Text after folding, with the origin of each character.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// The folded characters.
    pub chars: Vec<char>,
    /// For each folded character, the byte range of the original text it came from.
    pub spans: Vec<(usize, usize)>,
}

/// Folds `text` (see the module documentation).
pub fn fold(text: &str) -> Folded {
    let mut out = Folded::default();
    let mut chars = text.char_indices().peekable();
    let mut cluster = String::new();
    while let Some((start, c)) = chars.next() {
        let mut end = start + c.len_utf8();
        cluster.clear();
        cluster.push(joiner(c).unwrap_or(c));
        while let Some(&(i, next)) = chars.peek() {
            let Some(mark) = joiner(next) else {
                break;
            };
            cluster.push(mark);
            end = i + next.len_utf8();
            chars.next();
        }
        if cluster.len() == c.len_utf8() && stable(c) {
            push_folded(&mut out, c, (start, end));
        } else {
            for n in cluster.nfkc() {
                push_folded(&mut out, n, (start, end));
            }
        }
    }
    out
}

/// Folds `text` to a plain string (for queries and tests).
pub fn fold_str(text: &str) -> String {
    fold(text).chars.into_iter().collect()
}

/// A character that joins the one before it: combining marks, and the voiced sound marks in
/// their half-width and spacing forms (returned as the combining mark NFKC composes).
fn joiner(c: char) -> Option<char> {
    match c {
        '\u{FF9E}' | '\u{309B}' => Some('\u{3099}'),
        '\u{FF9F}' | '\u{309C}' => Some('\u{309A}'),
        c if is_combining_mark(c) => Some(c),
        _ => None,
    }
}

/// Characters that NFKC leaves as they are when no mark follows: the fast path for the
/// common case of kana, kanji and ASCII.
fn stable(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | '\u{30FC}' | '\u{4E00}'..='\u{9FFF}')
}

fn push_folded(out: &mut Folded, c: char, span: (usize, usize)) {
    if c.is_whitespace() || c.is_control() {
        return;
    }
    let c = match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}' => {
            char::from_u32(c as u32 + 0x60).unwrap_or(c)
        }
        '\u{301C}' => '~',
        c if !c.is_ascii() && c.is_uppercase() => c.to_lowercase().next().unwrap_or(c),
        c => c,
    };
    let c = large_kana(c);
    let c = variant_kanji(c);
    out.chars.push(c);
    out.spans.push(span);
}

fn large_kana(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        c => c,
    }
}

/// Variant forms (異体字) common in names, folded to the form most people type.
fn variant_kanji(c: char) -> char {
    match c {
        '髙' => '高',
        '﨑' | '嵜' | '碕' => '崎',
        '邊' | '邉' => '辺',
        '齋' | '齊' => '斎',
        '濵' | '濱' => '浜',
        '澤' => '沢',
        '櫻' => '桜',
        '廣' => '広',
        '德' => '徳',
        '國' => '国',
        '眞' => '真',
        '嶋' | '嶌' => '島',
        '藏' => '蔵',
        '壽' => '寿',
        '榮' => '栄',
        '惠' => '恵',
        '圓' => '円',
        '實' => '実',
        '條' => '条',
        '冨' => '富',
        '槇' => '槙',
        '瀨' => '瀬',
        '增' => '増',
        '黑' => '黒',
        '龍' => '竜',
        c => c,
    }
}

/// The second half of the bigram that marks the last character of a field, so every
/// character is the first half of some bigram and one-character queries find it.
pub const END: u32 = u32::MAX;

/// The index key of two adjacent folded characters.
pub fn bigram(a: char, b: u32) -> u64 {
    (u64::from(a as u32) << 32) | u64::from(b)
}

/// The range of keys of every bigram starting with `a`.
pub fn bigrams_starting(a: char) -> std::ops::RangeInclusive<u64> {
    bigram(a, 0)..=bigram(a, END)
}

/// The distinct bigram keys of a folded field, the end marker included.
pub fn bigrams(chars: &[char], out: &mut Vec<u64>) {
    for w in chars.windows(2) {
        out.push(bigram(w[0], w[1] as u32));
    }
    if let Some(&last) = chars.last() {
        out.push(bigram(last, END));
    }
}

/// Groups of clinical words written in kanji or in kana; a query for one finds the others.
const READINGS: &[&[&str]] = &[
    &["褥瘡", "じょくそう", "床ずれ", "とこずれ"],
    &["発赤", "ほっせき"],
    &["浮腫", "ふしゅ", "むくみ"],
    &["便秘", "べんぴ"],
    &["摘便", "てきべん"],
    &["浣腸", "かんちょう"],
    &["排便", "はいべん"],
    &["排尿", "はいにょう"],
    &["脱水", "だっすい"],
    &["転倒", "てんとう"],
    &["誤嚥", "ごえん"],
    &["吸引", "きゅういん"],
    &["血糖", "けっとう"],
    &["血圧", "けつあつ"],
    &["脈拍", "みゃくはく"],
    &["体温", "たいおん"],
    &["発熱", "はつねつ"],
    &["認知症", "にんちしょう"],
    &["仙骨部", "せんこつぶ"],
    &["仙骨", "せんこつ"],
    &["踵", "かかと"],
    &["肉芽", "にくげ"],
    &["滲出液", "しんしゅつえき"],
    &["壊死", "えし"],
    &["入浴", "にゅうよく"],
    &["食欲", "しょくよく"],
    &["服薬", "ふくやく"],
    &["疼痛", "とうつう"],
    &["嘔吐", "おうと"],
    &["下痢", "げり"],
    &["痰", "たん"],
    &["酸素", "さんそ"],
    &["胃瘻", "いろう"],
    &["点滴", "てんてき"],
];

/// The folded forms a query term stands for: itself, and the other writings of a clinical
/// word (`じょくそう` → `褥瘡`).
pub fn alternatives(term: &str) -> Vec<Vec<char>> {
    let folded: Vec<char> = fold(term).chars;
    let mut out = vec![folded.clone()];
    for group in READINGS {
        let forms: Vec<Vec<char>> = group.iter().map(|w| fold(w).chars).collect();
        if forms.contains(&folded) {
            for f in forms {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_kana_case_and_spaces() {
        assert_eq!(fold_str("ｻﾄｳ ﾊﾅｺ"), "サトウハナコ");
        assert_eq!(fold_str("さとう　はなこ"), "サトウハナコ");
        assert_eq!(fold_str("ｶﾞｰｾﾞ"), "ガーゼ");
        assert_eq!(fold_str("か゛"), "ガ");
        assert_eq!(fold_str("ＳｐＯ２ ９７％"), "spo297%");
        assert_eq!(fold_str("しょうこ"), fold_str("シヨウコ"));
        assert_eq!(fold_str("髙橋 邊"), "高橋辺");
        assert_eq!(fold_str("①"), "1");
    }

    #[test]
    fn spans_point_into_the_original() {
        let text = "ｶﾞｰｾﾞ交換";
        let f = fold(text);
        assert_eq!(f.chars.len(), 5);
        let (s, e) = f.spans[0];
        assert_eq!(&text[s..e], "ｶﾞ");
        let (s, e) = f.spans[4];
        assert_eq!(&text[s..e], "換");
    }

    #[test]
    fn readings_expand_both_ways() {
        let alts = alternatives("じょくそう");
        assert!(alts.contains(&"褥瘡".chars().collect()));
        let alts = alternatives("褥瘡");
        assert!(alts.contains(&fold("ジョクソウ").chars));
        assert_eq!(alternatives("ガーゼ").len(), 1);
    }

    #[test]
    fn bigrams_mark_the_end() {
        let mut out = Vec::new();
        bigrams(&['褥', '瘡'], &mut out);
        assert_eq!(out, vec![bigram('褥', '瘡' as u32), bigram('瘡', END)]);
        assert!(bigrams_starting('瘡').contains(&out[1]));
    }
}

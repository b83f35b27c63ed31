//! Varied Japanese clinical prose from a seed. Real notes vary from visit to visit; one
//! sentence repeated would compress unrealistically well, so sentences are assembled from
//! slots (who, body site, finding, number, action) and never repeat verbatim in practice.

use rand::Rng;
use rand::seq::IndexedRandom;

const PEOPLE: &[&str] = &["本人", "妻", "長女", "長男", "次女", "嫁", "夫"];
const SITES: &[&str] = &[
    "仙骨部",
    "右踵部",
    "左踵部",
    "右大転子部",
    "左大転子部",
    "尾骨部",
    "右肩甲骨部",
    "後頭部",
    "左外果部",
    "右坐骨部",
];
const SAYINGS: &[&str] = &[
    "夜はよく眠れた",
    "食欲があまりない",
    "足がむくんで重い",
    "少し息苦しい",
    "お通じが三日ない",
    "腰の痛みが楽になった",
    "昨日は孫が来て嬉しかった",
    "薬を飲み忘れた",
    "トイレに間に合わないことがある",
    "背中がかゆい",
    "寒気がする",
    "デイサービスが楽しみ",
    "口の中が乾く",
    "膝が痛くて歩きにくい",
];
const FINDINGS: &[&str] = &[
    "発赤",
    "表皮剥離",
    "浸軟",
    "滲出液少量",
    "肉芽良好",
    "黄色壊死組織",
    "ポケット形成なし",
    "周囲皮膚の乾燥",
    "軽度の浮腫",
    "冷感",
    "熱感なし",
    "疼痛の訴えなし",
];
const ACTIONS: &[&str] = &[
    "洗浄後ゲーベンクリームを塗布した",
    "体位変換を2時間毎に実施するよう家族へ指導した",
    "エアマットの圧を調整した",
    "陰部洗浄を実施した",
    "摘便を実施し中等量の排便あり",
    "服薬カレンダーを確認した",
    "下肢の自動運動を一緒に行った",
    "入浴介助を行い全身の皮膚を観察した",
    "口腔ケアを実施した",
    "主治医へ報告し指示を受けた",
    "吸引を実施し白色痰少量",
    "血糖測定を行い記録した",
    "水分摂取を1日1000mL目標と説明した",
    "ケアマネジャーへ福祉用具の相談をした",
];
const ASSESS: &[&str] = &[
    "創部は縮小傾向にあり",
    "脱水傾向が疑われ",
    "便秘が続いており",
    "ADLは維持できており",
    "認知機能の低下がみられ",
    "栄養状態の改善が必要で",
    "介護負担が増しており",
    "呼吸状態は安定しており",
    "疼痛コントロールは概ね良好で",
    "転倒のリスクが高く",
];
const PLANS: &[&str] = &[
    "次回訪問時に再評価する",
    "訪問回数の増加を検討する",
    "主治医と処方の見直しを相談する",
    "家族の休息のためショートステイを提案する",
    "栄養補助食品の導入を検討する",
    "福祉用具の変更を提案する",
    "経過を観察し変化があれば連絡する",
    "多職種で情報を共有する",
];
const CONNECTIVES: &[&str] = &["。", "。また、", "。なお、", "。その後、", "。本日は"];

fn pick<'a, R: Rng>(rng: &mut R, from: &'a [&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or("")
}

/// One sentence of the kind written in the given SOAP part.
pub fn sentence<R: Rng>(rng: &mut R, part: char) -> String {
    match part {
        'S' => format!(
            "{}より「{}」との訴えあり",
            pick(rng, PEOPLE),
            pick(rng, SAYINGS)
        ),
        'O' => format!(
            "{}に{:.1}×{:.1}cmの{}を認める。体温{:.1}℃、血圧{}/{}mmHg、脈拍{}回/分",
            pick(rng, SITES),
            rng.random_range(0.5..6.0),
            rng.random_range(0.5..4.0),
            pick(rng, FINDINGS),
            rng.random_range(35.8..37.6),
            rng.random_range(100..160),
            rng.random_range(55..95),
            rng.random_range(55..100)
        ),
        'A' => format!(
            "{}、{}",
            pick(rng, ASSESS),
            pick(rng, ASSESS).trim_end_matches('で')
        ),
        'P' => pick(rng, PLANS).to_string(),
        _ => format!("{}{}", pick(rng, ACTIONS), pick(rng, CONNECTIVES)),
    }
}

/// A paragraph of roughly `chars` characters for one SOAP part.
pub fn paragraph<R: Rng>(rng: &mut R, part: char, chars: usize) -> String {
    let mut out = String::new();
    while out.chars().count() < chars {
        if !out.is_empty() {
            out.push_str(pick(rng, CONNECTIVES));
        }
        out.push_str(&sentence(rng, part));
        if part == 'O' && rng.random_bool(0.5) {
            out.push('、');
            out.push_str(&sentence(rng, 'x'));
        }
    }
    out.push('。');
    out
}

/// A reply comment.
pub fn comment<R: Rng>(rng: &mut R) -> String {
    format!("{}。{}", pick(rng, ACTIONS), pick(rng, PLANS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn same_seed_same_text_and_text_varies() {
        let a = paragraph(&mut ChaCha8Rng::seed_from_u64(1), 'O', 200);
        let b = paragraph(&mut ChaCha8Rng::seed_from_u64(1), 'O', 200);
        let c = paragraph(&mut ChaCha8Rng::seed_from_u64(2), 'O', 200);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.chars().count() >= 200);
    }
}

//! DESIGN-R® 2020, the Japanese pressure-ulcer assessment scale. Each item has fixed grades;
//! the total (0–66) excludes depth. A score is written like `D3-e1s6i0g3n3p0:13`.

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! grades {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = ($code:literal, $score:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every grade, mildest first.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The grade as written on the chart (`e1`, `E6`…).
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// Points this grade adds to the total.
            pub fn score(self) -> u8 {
                match self { $($name::$variant => $score),+ }
            }

            /// Case-insensitive: charts and the domain notes write `n3` as well as `N3`; the
            /// canonical case is restored on output.
            fn parse(s: &str) -> Result<Self, ValidationError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|g| g.code().eq_ignore_ascii_case(s))
                    .ok_or_else(|| ValidationError::new(concat!("design_r.", $field), "is not a DESIGN-R 2020 grade"))
            }
        }
    };
}

grades!(
    /// Depth (深さ); not counted in the total.
    Depth, "depth" {
        /// d0: no skin injury or redness
        D0 = ("d0", 0),
        /// d1: persistent redness
        D1 = ("d1", 0),
        /// d2: injury to the dermis
        D2 = ("d2", 0),
        /// D3: to subcutaneous tissue
        D3 = ("D3", 0),
        /// D4: beyond subcutaneous tissue
        D4 = ("D4", 0),
        /// D5: to a joint or body cavity
        D5 = ("D5", 0),
        /// DDTI: suspected deep tissue injury
        Ddti = ("DDTI", 0),
        /// DU: depth unknown (necrosis covers the base)
        Du = ("DU", 0),
    }
);

grades!(
    /// Exudate (滲出液).
    Exudate, "exudate" {
        /// none
        E0 = ("e0", 0),
        /// small
        E1 = ("e1", 1),
        /// moderate
        E3 = ("e3", 3),
        /// heavy
        E6 = ("E6", 6),
    }
);

grades!(
    /// Size (大きさ): longest diameter × perpendicular diameter, cm².
    Size, "size" {
        /// no wound
        S0 = ("s0", 0),
        /// < 4
        S3 = ("s3", 3),
        /// 4 – < 16
        S6 = ("s6", 6),
        /// 16 – < 36
        S8 = ("s8", 8),
        /// 36 – < 64
        S9 = ("s9", 9),
        /// 64 – < 100
        S12 = ("s12", 12),
        /// ≥ 100
        S15 = ("S15", 15),
    }
);

grades!(
    /// Inflammation / infection (炎症/感染).
    Inflammation, "inflammation" {
        /// none
        I0 = ("i0", 0),
        /// local signs of inflammation
        I1 = ("i1", 1),
        /// critical colonisation suspected
        I3c = ("I3C", 3),
        /// local signs of infection
        I3 = ("I3", 3),
        /// systemic effects (fever etc.)
        I9 = ("I9", 9),
    }
);

grades!(
    /// Granulation (肉芽組織).
    Granulation, "granulation" {
        /// healed or too shallow to assess
        G0 = ("g0", 0),
        /// good granulation ≥ 90 %
        G1 = ("g1", 1),
        /// 50 – < 90 %
        G3 = ("g3", 3),
        /// 10 – < 50 %
        G4 = ("G4", 4),
        /// < 10 %
        G5 = ("G5", 5),
        /// none
        G6 = ("G6", 6),
    }
);

grades!(
    /// Necrotic tissue (壊死組織).
    Necrotic, "necrotic" {
        /// none
        N0 = ("n0", 0),
        /// soft necrotic tissue
        N3 = ("N3", 3),
        /// hard, thick, adherent
        N6 = ("N6", 6),
    }
);

grades!(
    /// Pocket (ポケット): pocket area minus ulcer area, cm².
    Pocket, "pocket" {
        /// none
        P0 = ("p0", 0),
        /// < 4
        P6 = ("P6", 6),
        /// 4 – < 16
        P9 = ("P9", 9),
        /// 16 – < 36
        P12 = ("P12", 12),
        /// ≥ 36
        P24 = ("P24", 24),
    }
);

impl Size {
    /// The size grade for a measured wound (`length_cm × width_cm`).
    pub fn from_measurement(length_cm: f64, width_cm: f64) -> Size {
        let area = length_cm * width_cm;
        match area {
            a if a <= 0.0 => Size::S0,
            a if a < 4.0 => Size::S3,
            a if a < 16.0 => Size::S6,
            a if a < 36.0 => Size::S8,
            a if a < 64.0 => Size::S9,
            a if a < 100.0 => Size::S12,
            _ => Size::S15,
        }
    }
}

/// One complete DESIGN-R 2020 assessment. Built only from valid grades, so the total is always
/// right; stored in documents as its chart notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DesignR {
    /// Depth, not counted in the total.
    pub depth: Depth,
    /// Exudate.
    pub exudate: Exudate,
    /// Size.
    pub size: Size,
    /// Inflammation / infection.
    pub inflammation: Inflammation,
    /// Granulation.
    pub granulation: Granulation,
    /// Necrotic tissue.
    pub necrotic: Necrotic,
    /// Pocket.
    pub pocket: Pocket,
}

impl DesignR {
    /// The total score 0–66 (depth excluded), the number clinicians track over time.
    pub fn total(&self) -> u8 {
        self.exudate.score()
            + self.size.score()
            + self.inflammation.score()
            + self.granulation.score()
            + self.necrotic.score()
            + self.pocket.score()
    }
}

impl fmt::Display for DesignR {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}{}{}{}{}{}:{}",
            self.depth.code(),
            self.exudate.code(),
            self.size.code(),
            self.inflammation.code(),
            self.granulation.code(),
            self.necrotic.code(),
            self.pocket.code(),
            self.total()
        )
    }
}

/// Splits `e1s6i0g3n3p0` into grade tokens: a token starts at one of the item letters.
fn tokens(s: &str) -> Vec<&str> {
    let starts: Vec<usize> = s
        .char_indices()
        // `C` inside `I3C` is part of the inflammation token, not a new item.
        .filter(|(_, c)| matches!(c.to_ascii_lowercase(), 'e' | 's' | 'i' | 'g' | 'n' | 'p'))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(s.len());
        out.push(&s[start..end]);
    }
    out
}

impl FromStr for DesignR {
    type Err = ValidationError;
    /// Parses chart notation; the `:total` suffix is optional but must be right when present.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |p: &str| ValidationError::new("design_r", p.to_string());
        if s.len() > 40 || !s.is_ascii() {
            return Err(bad("is not DESIGN-R 2020 notation"));
        }
        let (body, total) = match s.split_once(':') {
            Some((b, t)) => (
                b,
                Some(t.parse::<u8>().map_err(|_| bad("total is not a number"))?),
            ),
            None => (s, None),
        };
        let (depth, rest) = body
            .split_once('-')
            .ok_or_else(|| bad("must start with the depth, like D3-"))?;
        let t = tokens(rest);
        if t.len() != 6 {
            return Err(bad("needs the six items e s i g n p"));
        }
        let d = DesignR {
            depth: Depth::parse(depth)?,
            exudate: Exudate::parse(t[0])?,
            size: Size::parse(t[1])?,
            inflammation: Inflammation::parse(t[2])?,
            granulation: Granulation::parse(t[3])?,
            necrotic: Necrotic::parse(t[4])?,
            pocket: Pocket::parse(t[5])?,
        };
        if let Some(total) = total
            && total != d.total()
        {
            return Err(bad("total does not match the grades"));
        }
        Ok(d)
    }
}

impl TryFrom<String> for DesignR {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DesignR> for String {
    fn from(d: DesignR) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_domain_example_and_computes_total() {
        let d: DesignR = "D3-e1s6i0g3n3p0:13".parse().unwrap();
        assert_eq!(d.total(), 13);
        assert_eq!(d.necrotic, Necrotic::N3);
        assert_eq!(d.to_string(), "D3-e1s6i0g3N3p0:13");
    }

    #[test]
    fn handles_multi_letter_grades() {
        let d: DesignR = "DDTI-E6S15I3CG6N6P24".parse().unwrap();
        assert_eq!(d.total(), 6 + 15 + 3 + 6 + 6 + 24);
        assert_eq!(d.total(), 60);
        let max: DesignR = "DU-E6S15I9G6N6P24".parse().unwrap();
        assert_eq!(max.total(), 66);
        assert_eq!(max.to_string().parse::<DesignR>().unwrap(), max);
    }

    #[test]
    fn refuses_invalid_grades_and_wrong_totals() {
        assert_eq!(
            "D3-e2s6i0g3n3p0".parse::<DesignR>().unwrap_err().field,
            "design_r.exudate"
        );
        assert!("D3-e1s6i0g3n3p0:14".parse::<DesignR>().is_err());
        assert!("D7-e1s6i0g3n3p0".parse::<DesignR>().is_err());
        assert!("D3-e1s6i0g3n3".parse::<DesignR>().is_err());
        assert!("".parse::<DesignR>().is_err());
    }

    #[test]
    fn size_grade_follows_area() {
        assert_eq!(Size::from_measurement(1.0, 3.9), Size::S3);
        assert_eq!(Size::from_measurement(2.0, 2.0), Size::S6);
        assert_eq!(Size::from_measurement(10.0, 10.0), Size::S15);
        assert_eq!(Size::from_measurement(0.0, 0.0), Size::S0);
    }

    #[test]
    fn every_grade_round_trips() {
        for &depth in Depth::ALL {
            for &e in Exudate::ALL {
                for &i in Inflammation::ALL {
                    let d = DesignR {
                        depth,
                        exudate: e,
                        size: Size::S6,
                        inflammation: i,
                        granulation: Granulation::G3,
                        necrotic: Necrotic::N0,
                        pocket: Pocket::P9,
                    };
                    assert_eq!(d.to_string().parse::<DesignR>().unwrap(), d);
                }
            }
        }
    }
}

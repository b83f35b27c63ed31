//! Field checks for values entering a room. Every value passes [`CheckFields`] first, so bad
//! input is refused on the phone with an error naming the field, before it can sync anywhere.
//! (The relay's rules for who may change what are another matter: [`crate::sync::write_rules`].)

use crate::ValidationError;

/// Something that can validate itself, reporting the first broken rule with its field path.
pub trait CheckFields {
    /// Returns the first broken rule, if any.
    fn check(&self) -> Result<(), ValidationError>;
}

/// Text length in characters (not bytes: Japanese is three bytes a character in UTF-8).
pub fn check_text(field: &str, s: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let n = s.chars().count();
    if n < min {
        return Err(ValidationError::new(
            field,
            if min == 1 {
                "is required".to_string()
            } else {
                format!("needs at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(ValidationError::new(field, "contains control characters"));
    }
    Ok(())
}

/// Optional text: absent is fine, present must fit.
pub fn check_opt_text(field: &str, s: &Option<String>, max: usize) -> Result<(), ValidationError> {
    match s {
        Some(s) => check_text(field, s, 0, max),
        None => Ok(()),
    }
}

/// A number within an inclusive range (clinically plausible bounds, not normal ranges).
pub fn check_range<T: PartialOrd + Copy + std::fmt::Display>(
    field: &str,
    v: T,
    min: T,
    max: T,
) -> Result<(), ValidationError> {
    if v < min || v > max {
        return Err(ValidationError::new(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

/// Validates every element of a list, prefixing errors with the element's index.
pub fn check_each<T: CheckFields>(
    field: &str,
    items: &[T],
    max_items: usize,
) -> Result<(), ValidationError> {
    if items.len() > max_items {
        return Err(ValidationError::new(
            field,
            format!("has more than {max_items} entries"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        item.check()
            .map_err(|e| e.within(&format!("{field}[{i}]")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_not_bytes() {
        assert!(check_text("f", "褥瘡", 1, 2).is_ok());
        let e = check_text("f", "褥瘡あ", 1, 2).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("f: is longer than 2 characters")
        );
        assert!(check_text("f", "", 1, 2).is_err());
        assert!(check_text("f", "a\u{0}", 0, 9).is_err());
    }

    #[test]
    fn range_names_bounds_not_value() {
        let e = check_range("vitals.pulse", 999, 20, 250)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("vitals.pulse: must be between 20 and 250")
        );
    }
}

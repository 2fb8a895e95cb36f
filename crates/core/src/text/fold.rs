//! Comparing names as a reader sees them: Unicode compatibility normalisation (NFKC), case
//! folding and the confusable skeleton of Unicode Technical Standard #39, so `сard_number`
//! written with a Cyrillic `с` is the `card_number` it looks like.

use unicode_normalization::UnicodeNormalization as _;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection as _};

/// `name` folded for comparison: NFKC, lower case, the UTS #39 confusable skeleton, lower case
/// again (the skeleton maps some letters to upper-case prototypes). Two names that look the
/// same fold to the same text, and the folding maps character by character, so a folded
/// pattern is inside a folded name whenever the pattern is visibly inside the name.
pub fn fold(name: &str) -> String {
    let lower: String = name.nfkc().collect::<String>().to_lowercase();
    unicode_security::skeleton(&lower)
        .collect::<String>()
        .to_lowercase()
}

/// Whether the letters and digits of `name` mix scripts in a way UTS #39 calls less than
/// moderately restrictive: Latin with Cyrillic or Greek (the homograph case), or several
/// scripts besides Latin. Latin with one other script (`名前_id`) and Han with Japanese kana
/// are not mixed in this sense.
pub fn mixes_scripts(name: &str) -> bool {
    let letters: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    letters.as_str().detect_restriction_level() > RestrictionLevel::ModeratelyRestrictive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusables_fold_to_what_they_look_like() {
        // A Cyrillic `с` (U+0441) and `а` (U+0430).
        assert!(fold("\u{441}\u{430}rd_number").contains(&fold("card")));
        // Full-width letters and upper case.
        assert!(fold("ＣＡＲＤ_no").contains(&fold("card")));
        assert!(fold("PassWord").contains(&fold("password")));
        assert!(!fold("order_id").contains(&fold("card")));
    }

    #[test]
    fn latin_mixed_with_cyrillic_is_flagged() {
        assert!(mixes_scripts("\u{441}ard_number"));
        assert!(!mixes_scripts("card_number"));
        assert!(!mixes_scripts("имя_клиента"));
        assert!(!mixes_scripts("first name"));
        assert!(!mixes_scripts("名前_id"));
    }
}

//! Rules for text that people read as a name (clients, connections,
//! organizations): it must look like what it is.

/// Whether `c` changes how the text around it is shown without being seen
/// itself: control characters, bidirectional embeddings, overrides and
/// isolates (U+202E turns "exe.pdf" around), zero-width characters and the
/// other invisible format characters. A name holding one can pose as
/// another on a consent page.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The first deceptive character of `text`, for an error that names it.
pub fn first_deceptive(text: &str) -> Option<char> {
    text.chars().find(|c| is_deceptive(*c))
}

/// `U+202E`-style name of a character, for error messages.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_bidirectional_characters_are_caught() {
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{FEFF}',
            '\u{2060}',
            '\u{061C}',
            '\n',
            '\t',
            '\u{7F}',
            '\u{E0041}',
        ] {
            assert!(is_deceptive(c), "{}", code_point(c));
        }
        for c in ['a', 'é', 'Ж', '中', '😀', ' ', '-', '\u{05D0}'] {
            assert!(!is_deceptive(c), "{}", code_point(c));
        }
        assert_eq!(first_deceptive("Claude\u{202E}fdp.exe"), Some('\u{202E}'));
        assert_eq!(code_point('\u{202E}'), "U+202E");
    }
}

//! The English indefinite article before a model's name in generated text: "an Author",
//! "a Book", "a User", "an HTTPLog". By the sound of the name's start, approximated from its
//! spelling: a vowel letter takes "an" except where it sounds like a consonant (`U` as in
//! "user", `Eu`, `One`); a silent `h` (`Hour`, `Honest`) takes "an"; an acronym (two capitals
//! first) is read letter by letter (`an SMS`, `a URL`).

/// `"a"` or `"an"` for `word`.
pub fn indefinite_article(word: &str) -> &'static str {
    let mut chars = word.chars();
    let (Some(first), second) = (chars.next(), chars.next()) else {
        return "a";
    };
    if first.is_ascii_uppercase() && second.is_some_and(|c| c.is_ascii_uppercase()) {
        // An acronym: letters whose names start with a vowel sound.
        return if "AEFHILMNORSX".contains(first) {
            "an"
        } else {
            "a"
        };
    }
    let lower = word.to_ascii_lowercase();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| lower.starts_with(p));
    if starts(&["hour", "honest", "honor", "honour", "heir"]) {
        return "an";
    }
    if starts(&[
        "uni", "use", "usa", "usu", "uti", "ure", "uri", "uu", "eu", "ewe", "one", "once",
    ]) {
        return "a";
    }
    if matches!(first.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u') {
        "an"
    } else {
        "a"
    }
}

/// `word` with its indefinite article: `"an Author"`.
pub fn with_article(word: &str) -> String {
    format!("{} {word}", indefinite_article(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_by_sound() {
        for (word, article) in [
            ("Author", "an"),
            ("Book", "a"),
            ("Invoice", "an"),
            ("Order", "an"),
            ("Event", "an"),
            ("User", "a"),
            ("Unit", "a"),
            ("Umbrella", "an"),
            ("Hour", "an"),
            ("House", "a"),
            ("SMSMessage", "an"),
            ("URLLink", "a"),
            ("HTTPLog", "an"),
            ("", "a"),
        ] {
            assert_eq!(indefinite_article(word), article, "{word}");
        }
        assert_eq!(with_article("Author"), "an Author");
    }
}

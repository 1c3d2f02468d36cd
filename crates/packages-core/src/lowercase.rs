//! Case folding for the `lower_*` columns.

/// Lowercases `s` one character at a time with a simple (one-to-one) mapping.
///
/// Look-ups compare these values for equality, so the mapping must not change the
/// number of characters the way full Unicode lowercasing does (`İ` would become two).
/// Where the full mapping yields several characters the first one is kept, which is
/// the simple mapping for every such character in Unicode today.
pub fn lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::lower;

    #[test]
    fn ascii_and_unicode() {
        assert_eq!(lower("Te-St_PAC.kage"), "te-st_pac.kage");
        assert_eq!(lower("ÄÖÜ"), "äöü");
        assert_eq!(lower("İ").chars().count(), 1);
        assert_eq!(lower("1.0.3-TE st"), "1.0.3-te st");
    }
}

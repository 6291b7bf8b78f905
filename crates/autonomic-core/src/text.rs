//! Text from outside the process (an error's message, a store's reply) kept within a bound:
//! [`bounded`].

/// `text`, cut at `max_bytes` (on a character boundary) with its full length noted, or as it
/// is if it fits: the one rule for how much of an outside text a record or an error keeps.
///
/// ```
/// use autonomic_core::text::bounded;
/// assert_eq!(bounded("short".into(), 16), "short");
/// assert_eq!(bounded("é".repeat(10), 5), "éé... (20 bytes in all)");
/// ```
pub fn bounded(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let cut = text.floor_char_boundary(max_bytes);
    format!("{}... ({} bytes in all)", &text[..cut], text.len())
}

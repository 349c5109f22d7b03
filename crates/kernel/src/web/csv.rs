//! CSV as the platform writes it (RFC 4180: UTF-8, `,`, `\n`), for the
//! exports (FIN-5, CONV-7), the dashboards' downloads (DATA-3) and the open
//! data (DATA-4).

/// A field, quoted when it holds a separator, a quote or a line break.
pub fn field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// A record: its fields quoted as needed, joined by `,`, ended by `\n`.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<_> = fields.iter().map(|f| field(f.as_ref())).collect();
    quoted.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("Lyon"), "Lyon");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("dit \"oui\""), "\"dit \"\"oui\"\"\"");
        assert_eq!(field("deux\nlignes"), "\"deux\nlignes\"");
        assert_eq!(line(&["69123", "Lyon, 1er", ""]), "69123,\"Lyon, 1er\",\n");
    }
}

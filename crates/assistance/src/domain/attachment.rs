//! SAU-1: attachments — at most 5 per message, 10 MB each, PDF, PNG, JPEG or
//! plain text, the type decided from the content's bytes, never from the
//! file's name or the browser's claim.

/// Files per message.
pub const MAX_FILES: usize = 5;
/// Bytes per file.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// An accepted type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Png,
    Jpeg,
    Text,
}

impl Kind {
    /// As stored.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Png => "png",
            Kind::Jpeg => "jpeg",
            Kind::Text => "text",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        [Kind::Pdf, Kind::Png, Kind::Jpeg, Kind::Text]
            .into_iter()
            .find(|k| k.code() == code)
    }

    pub fn mime(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Text => "text/plain; charset=utf-8",
        }
    }
}

/// A file accepted: its type decided from its bytes, its name made safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub file_name: String,
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

/// The name a file is shown and downloaded under: the last part of what the
/// browser sent (some send a whole Windows path), without control
/// characters or quotes, at most 120 characters; `piece-jointe` if nothing
/// is left.
pub fn safe_name(sent: &str) -> String {
    let base = sent.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | ';'))
        .take(120)
        .collect();
    let name = name.trim().trim_start_matches('.').to_string();
    if name.is_empty() {
        "piece-jointe".to_string()
    } else {
        name
    }
}

/// Why a file is refused, in French and English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Empty,
    TooLarge,
    NotAccepted,
    TooMany,
}

impl Refused {
    pub fn message_fr(self) -> &'static str {
        match self {
            Refused::Empty => "Le fichier est vide.",
            Refused::TooLarge => "Le fichier dépasse 10 Mo.",
            Refused::NotAccepted => {
                "Ce type de fichier n'est pas accepté : joignez un PDF, une image PNG ou JPEG, ou un texte."
            }
            Refused::TooMany => "5 fichiers au plus par message.",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            Refused::Empty => "The file is empty.",
            Refused::TooLarge => "The file is larger than 10 MB.",
            Refused::NotAccepted => {
                "This type of file is not accepted: attach a PDF, a PNG or JPEG image, or a text."
            }
            Refused::TooMany => "At most 5 files per message.",
        }
    }
}

/// The type of a file from its first bytes: the signatures of PDF, PNG and
/// JPEG; plain text when it is valid UTF-8 without control characters other
/// than tab, line feed, carriage return and form feed.
pub fn sniff(bytes: &[u8]) -> Result<Kind, Refused> {
    if bytes.is_empty() {
        return Err(Refused::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(Refused::TooLarge);
    }
    if bytes.starts_with(b"%PDF-") {
        return Ok(Kind::Pdf);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Kind::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Kind::Jpeg);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Refused::NotAccepted)?;
    let plain = text
        .trim_start_matches('\u{feff}')
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}'));
    if plain {
        Ok(Kind::Text)
    } else {
        Err(Refused::NotAccepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes_sau_1() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Ok(Kind::Pdf));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Ok(Kind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]), Ok(Kind::Jpeg));
        assert_eq!(
            sniff("Bonjour,\r\nmon compteur d'eau fuit.\n".as_bytes()),
            Ok(Kind::Text)
        );
        assert_eq!(sniff("\u{feff}Texte avec BOM".as_bytes()), Ok(Kind::Text));
        // An executable, an HTML page named .pdf, a ZIP, binary garbage.
        for bad in [
            &b"MZ\x90\0\x03\0"[..],
            b"\x7fELF\x02\x01",
            b"PK\x03\x04",
            &[0xC3, 0x28, 0xA0],
        ] {
            assert_eq!(sniff(bad), Err(Refused::NotAccepted), "{bad:?}");
        }
        // HTML is text: accepted as text/plain, never served as HTML.
        assert_eq!(sniff(b"<script>alert(1)</script>"), Ok(Kind::Text));
        assert_eq!(Kind::Text.mime(), "text/plain; charset=utf-8");
        assert_eq!(sniff(b""), Err(Refused::Empty));
        assert_eq!(sniff(&vec![b'a'; MAX_BYTES + 1]), Err(Refused::TooLarge));
        assert_eq!(sniff(&vec![b'a'; MAX_BYTES]), Ok(Kind::Text));
        for k in [Kind::Pdf, Kind::Png, Kind::Jpeg, Kind::Text] {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code("exe"), None);
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("facture.pdf"), "facture.pdf");
        assert_eq!(safe_name("C:\\Users\\moi\\relevé.png"), "relevé.png");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("a\"b;c\u{7}.txt"), "abc.txt");
        assert_eq!(safe_name(".htaccess"), "htaccess");
        assert_eq!(safe_name(""), "piece-jointe");
        assert_eq!(safe_name("/"), "piece-jointe");
        assert_eq!(safe_name(&"x".repeat(500)).chars().count(), 120);
    }
}

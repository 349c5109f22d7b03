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
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Text => "text/plain; charset=utf-8",
        }
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
    }
}

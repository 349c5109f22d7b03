//! CONV-10: the filled-in framework agreement and its amendments, as blocks
//! of text that pages and PDFs render the same way.

use time::Date;

/// A piece of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Title(String),
    Heading(String),
    Subheading(String),
    Paragraph(String),
    Item(String),
}

/// The project's template: the agreement's text with `{{…}}` blanks.
pub const AGREEMENT_TEMPLATE: &str = include_str!("../../documents/convention-cadre.fr.txt");

/// What fills the agreement's blanks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Particulars {
    pub commune: String,
    pub siren: String,
    pub insee_code: String,
    /// One line per annex, e.g. "Toodego (annexe 1)".
    pub annexes: Vec<String>,
    pub commune_signed: Option<Date>,
    pub metropolis_signed: Option<Date>,
}

fn signature_line(who: &str, on: Option<Date>) -> String {
    match on {
        Some(d) => format!("Pour {who}, signé le {d}."),
        None => format!("Pour {who}, le ………………… (signature)."),
    }
}

fn signatures(p: &Particulars) -> Vec<Block> {
    vec![
        Block::Paragraph("Fait à Lyon, en deux exemplaires originaux.".into()),
        Block::Paragraph(signature_line(
            &format!("la Commune de {}, son Maire", p.commune),
            p.commune_signed,
        )),
        Block::Paragraph(signature_line(
            "la Métropole de Lyon, son Président ou son représentant",
            p.metropolis_signed,
        )),
    ]
}

/// Cuts a text into blocks: the first line is the title, `Article …` lines
/// are headings, `N.N – …` lines subheadings, `- …` lines list items.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim().replace("**", "");
        if line.is_empty() {
            continue;
        }
        let block = if out.is_empty() {
            Block::Title(line)
        } else if line.starts_with("Article ") {
            Block::Heading(line)
        } else if line.split_once(' ').is_some_and(|(n, rest)| {
            n.contains('.')
                && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                && rest.starts_with('–')
        }) {
            Block::Subheading(line)
        } else if let Some(item) = line.strip_prefix("- ") {
            Block::Item(item.to_string())
        } else {
            Block::Paragraph(line)
        };
        out.push(block);
    }
    out
}

/// CONV-10: the framework agreement filled in for a commune.
pub fn agreement_document(template: &str, p: &Particulars) -> Vec<Block> {
    let text = template
        .replace("{{commune}}", &p.commune)
        .replace("{{siren}}", &p.siren)
        .replace("{{insee}}", &p.insee_code)
        .replace("{{annex_count}}", &p.annexes.len().to_string());
    let mut out = Vec::new();
    for block in blocks(&text) {
        match &block {
            Block::Paragraph(t) if t == "{{annexes}}" => {
                out.extend(p.annexes.iter().map(|a| Block::Item(a.clone())));
            }
            Block::Paragraph(t) if t == "{{signatures}}" => out.extend(signatures(p)),
            _ => out.push(block),
        }
    }
    out
}

/// CONV-4, CONV-10: an amendment joining or leaving a service.
pub fn amendment_document(
    number: usize,
    joining: bool,
    service: &str,
    effective_on: Date,
    p: &Particulars,
) -> Vec<Block> {
    let object = if joining {
        format!(
            "La Commune adhère au service numérique partagé « {service} » à compter du {effective_on}. L'annexe propre à ce service est jointe à la convention-cadre ; la contribution de la première année est établie au prorata temporis (article 10)."
        )
    } else {
        format!(
            "La Commune renonce au service numérique partagé « {service} » à compter du {effective_on}. L'annexe propre à ce service prend fin la veille ; la contribution de la dernière année est établie au prorata temporis."
        )
    };
    let mut out = vec![
        Block::Title(format!("AVENANT N° {number} À LA CONVENTION-CADRE")),
        Block::Paragraph("Offre de services numériques à l'usager".into()),
        Block::Paragraph("ENTRE la Métropole de Lyon, 20 rue du Lac, CS 33569, 69505 Lyon cedex 03, d'une part,".into()),
        Block::Paragraph(format!(
            "ET la Commune de {} (SIREN {}, code INSEE {}), représentée par son Maire, d'autre part,",
            p.commune, p.siren, p.insee_code
        )),
        Block::Paragraph("Vu la convention-cadre de mutualisation des services numériques conclue entre les Parties, notamment son article 12.1 (toute modification fait l'objet d'un avenant signé par les Parties),".into()),
        Block::Heading("Article 1 – Objet".into()),
        Block::Paragraph(object),
        Block::Heading("Article 2 – Autres stipulations".into()),
        Block::Paragraph("Les autres stipulations de la convention-cadre et de ses annexes demeurent inchangées.".into()),
        Block::Heading("Article 3 – Prise d'effet".into()),
        Block::Paragraph(format!("Le présent avenant prend effet le {effective_on}, sous réserve de sa signature par les deux Parties.")),
    ];
    out.extend(signatures(p));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn bron() -> Particulars {
        Particulars {
            commune: "Bron".into(),
            siren: "216900290".into(),
            insee_code: "69029".into(),
            annexes: vec![
                "Toodego (annexe 1)".into(),
                "laclasse.com (annexe 2)".into(),
            ],
            commune_signed: Some(date!(2026 - 03 - 02)),
            metropolis_signed: None,
        }
    }

    #[test]
    fn the_agreement_is_filled_in_for_the_commune_conv_10() {
        let doc = agreement_document(AGREEMENT_TEMPLATE, &bron());
        assert_eq!(doc[0], Block::Title("CONVENTION-CADRE".into()));
        let text: Vec<String> = doc
            .iter()
            .map(|b| match b {
                Block::Title(t)
                | Block::Heading(t)
                | Block::Subheading(t)
                | Block::Paragraph(t)
                | Block::Item(t) => t.clone(),
            })
            .collect();
        let all = text.join("\n");
        assert!(all.contains("La Commune de Bron (SIREN 216900290, code INSEE 69029)"));
        assert!(all.contains("comporte 2 annexe(s)"));
        assert!(doc.contains(&Block::Item("Toodego (annexe 1)".into())));
        assert!(all.contains("Pour la Commune de Bron, son Maire, signé le 2026-03-02."));
        assert!(
            !all.contains("{{") && !all.contains("**") && !all.contains("MODELE"),
            "every blank filled"
        );
        assert!(doc.contains(&Block::Heading(
            "Article 2 – Durée et modalités de reconduction".into()
        )));
        assert!(
            doc.iter()
                .any(|b| matches!(b, Block::Subheading(t) if t.starts_with("10.1 –")))
        );
    }

    #[test]
    fn an_amendment_names_its_object_and_date_conv_4() {
        let doc = amendment_document(1, true, "laclasse.com", date!(2027 - 09 - 01), &bron());
        assert_eq!(
            doc[0],
            Block::Title("AVENANT N° 1 À LA CONVENTION-CADRE".into())
        );
        assert!(doc.iter().any(|b| matches!(b, Block::Paragraph(t) if t.contains("adhère au service numérique partagé « laclasse.com » à compter du 2027-09-01"))));
    }
}

/// Signed scans are kept up to this size.
pub const MAX_SCAN_BYTES: usize = 10 * 1024 * 1024;

/// The type of a signed scan, read from its first bytes (never from its
/// name): PDF, PNG or JPEG; `None` for anything else.
pub fn scan_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A file name safe to store and send back: letters, digits, `.-_`, at most
/// 100 characters.
pub fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if cleaned.trim_matches(['.', '_']).is_empty() {
        "document".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    #[test]
    fn scans_are_recognised_by_their_bytes() {
        assert_eq!(scan_type(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(scan_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(scan_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(scan_type(b"MZ\x90\x00 an executable named scan.pdf"), None);
        assert_eq!(
            safe_filename("../../etc/convention signée.pdf"),
            "convention_sign_e.pdf"
        );
        assert_eq!(safe_filename("..."), "document");
    }
}

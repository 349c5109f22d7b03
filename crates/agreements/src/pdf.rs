//! FIN-5: a revenue order as a PDF, written with `pdf-writer` and the
//! standard Helvetica font (WinAnsi encoding covers French text), so no font
//! file is embedded.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use crate::domain::money::cents;
use crate::store::{OrderLine, OrderRow};

/// Unicode to Windows-1252 (WinAnsiEncoding); other characters become '?'.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '•' => 0x95,
            '—' => 0x97,
            'œ' => 0x9c,
            'Œ' => 0x8c,
            '\u{202f}' => 0xa0,
            _ => b'?',
        })
        .collect()
}

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

struct Writer {
    pages: Vec<Content>,
    y: f32,
}

const TOP: f32 = 800.0;
const BOTTOM: f32 = 60.0;
const LEFT: f32 = 50.0;
const FONT: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

impl Writer {
    fn new() -> Writer {
        Writer {
            pages: vec![Content::new()],
            y: TOP,
        }
    }

    fn text(&mut self, text: &str, size: f32, bold: bool) {
        for line in wrap(text, if size > 11.0 { 70 } else { 95 }) {
            if self.y < BOTTOM {
                self.pages.push(Content::new());
                self.y = TOP;
            }
            let page = self.pages.last_mut().expect("a page");
            page.begin_text();
            page.set_font(if bold { BOLD } else { FONT }, size);
            page.next_line(LEFT, self.y);
            page.show(Str(&win_ansi(&line)));
            page.end_text();
            self.y -= size * 1.4;
        }
    }

    fn gap(&mut self) {
        self.y -= 8.0;
    }

    fn finish(self) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let (font, bold) = (Ref::new(3), Ref::new(4));
        let n = self.pages.len() as i32;
        let page_ids: Vec<Ref> = (0..n).map(|i| Ref::new(10 + 2 * i)).collect();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids(page_ids.iter().copied()).count(n);
        pdf.type1_font(font)
            .base_font(Name(b"Helvetica"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        pdf.type1_font(bold)
            .base_font(Name(b"Helvetica-Bold"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        for (i, content) in self.pages.into_iter().enumerate() {
            let id = page_ids[i];
            let content_id = Ref::new(11 + 2 * i as i32);
            let mut page = pdf.page(id);
            page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
            page.parent(tree);
            page.contents(content_id);
            page.resources().fonts().pair(FONT, font).pair(BOLD, bold);
            page.finish();
            pdf.stream(content_id, &content.finish());
        }
        pdf.finish()
    }
}

/// CONV-10: a document (the filled-in agreement, an amendment) as PDF.
pub fn document_pdf(blocks: &[crate::domain::documents::Block]) -> Vec<u8> {
    use crate::domain::documents::Block;
    let mut w = Writer::new();
    for b in blocks {
        match b {
            Block::Title(t) => {
                w.text(t, 16.0, true);
                w.gap();
            }
            Block::Heading(t) => {
                w.gap();
                w.text(t, 12.0, true);
            }
            Block::Subheading(t) => w.text(t, 11.0, true),
            Block::Paragraph(t) => {
                w.text(t, 10.0, false);
                w.gap();
            }
            Block::Item(t) => w.text(&format!("• {t}"), 10.0, false),
        }
    }
    w.finish()
}

/// The order, its lines with their basis, and the mentions FIN-5 lists.
pub fn order_pdf(order: &OrderRow, lines: &[OrderLine], refers_to: Option<&str>) -> Vec<u8> {
    let mut w = Writer::new();
    w.text("Métropole de Lyon — 20 rue du Lac, 69003 Lyon", 10.0, false);
    w.gap();
    w.text(
        &format!("{} n° {}", order.kind.label_fr(), order.reference()),
        16.0,
        true,
    );
    w.text(
        &format!(
            "Exercice budgétaire {} — contribution de l'année {}",
            order.budget_year, order.contribution_year
        ),
        11.0,
        false,
    );
    if let Some(r) = refers_to {
        w.text(&format!("Se rapporte au titre n° {r}"), 11.0, false);
    }
    if let Some(reason) = &order.reason {
        w.text(&format!("Motif : {reason}"), 11.0, false);
    }
    w.gap();
    w.text("Débiteur", 12.0, true);
    w.text(
        &format!(
            "Commune de {} — SIREN {} — code INSEE {}",
            order.debtor_name, order.debtor_siren, order.insee_code
        ),
        11.0,
        false,
    );
    w.gap();
    w.text("Objet et bases de calcul", 12.0, true);
    for l in lines {
        let b = &l.basis;
        let s = |k: &str| match &b[k] {
            serde_json::Value::Null => "—".to_string(),
            serde_json::Value::String(v) => v.clone(),
            v => v.to_string(),
        };
        w.text(
            &format!("Service {} : {} €", l.service_name, cents(l.amount)),
            11.0,
            true,
        );
        w.text(
            &format!(
                "Population {} (millésime {}) ; tarif {} ; unités {} ; SYNTEC {} ({}) ; S0 {} ; part fixe {} ; coefficient {} ; \
                 contribution cible {} € ; montant payé avant la convention {} ; plafond transitoire {} ; montant annuel {} € ; \
                 prorata {} jours sur {} ; dû {} € ; remboursement {} €.",
                s("population"),
                s("population_vintage"),
                crate::simulate::pricing_from_json(&b["pricing"])
                    .map(|p| crate::store::pricing_label(&p, kernel::web::Lang::Fr))
                    .unwrap_or_default(),
                s("units"),
                s("syntec"),
                s("syntec_month"),
                s("s0"),
                s("fixed_part"),
                s("coefficient"),
                s("target"),
                s("previous_annual_amount"),
                s("transition_cap"),
                s("annual_amount"),
                s("prorata_days"),
                s("days_in_year"),
                s("due"),
                s("refund"),
            ),
            9.0,
            false,
        );
    }
    w.gap();
    w.text(&format!("Montant : {} €", cents(order.amount)), 14.0, true);
    if !order.collectable && order.kind == crate::domain::orders::OrderKind::Order {
        w.text(
            "Montant inférieur à 15 € : non mis en recouvrement (article D1611-1 du CGCT).",
            10.0,
            false,
        );
    }
    w.gap();
    w.text("Fondement juridique", 12.0, true);
    w.text(&order.legal_basis, 10.0, false);
    w.gap();
    w.text(
        &format!(
            "Émis le {} par : {}",
            &kernel::clock::format_ms(order.issued_at)[..10],
            order.issuer
        ),
        10.0,
        false,
    );
    w.gap();
    w.text(&order.appeal, 10.0, false);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_text_is_encoded_in_win_ansi() {
        assert_eq!(win_ansi("é€ à"), vec![0xe9, 0x80, b' ', 0xe0]);
        assert_eq!(win_ansi("日"), vec![b'?']);
    }

    #[test]
    fn long_text_wraps_at_spaces() {
        let lines = wrap("un deux trois quatre cinq", 10);
        assert_eq!(lines, vec!["un deux", "trois", "quatre", "cinq"]);
    }
}

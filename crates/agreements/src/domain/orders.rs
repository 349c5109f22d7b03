//! Revenue orders (FIN-5): what they are and the mentions they carry.

use rust_decimal::Decimal;
use time::Date;

/// An order, or a correction of one (an issued order is never edited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    Order,
    /// Cancels the whole remaining amount of the order it refers to.
    Cancellation,
    /// Reduces the order it refers to by an amount.
    Reduction,
}

impl OrderKind {
    pub fn code(self) -> &'static str {
        match self {
            OrderKind::Order => "order",
            OrderKind::Cancellation => "cancellation",
            OrderKind::Reduction => "reduction",
        }
    }
    pub fn parse(code: &str) -> Option<OrderKind> {
        match code {
            "order" => Some(OrderKind::Order),
            "cancellation" => Some(OrderKind::Cancellation),
            "reduction" => Some(OrderKind::Reduction),
            _ => None,
        }
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            OrderKind::Order => "Titre de recette",
            OrderKind::Cancellation => "Titre d'annulation",
            OrderKind::Reduction => "Titre de réduction",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            OrderKind::Order => "Revenue order",
            OrderKind::Cancellation => "Cancellation order",
            OrderKind::Reduction => "Reduction order",
        }
    }
}

/// The order's number as printed: `2026-000042`.
pub fn reference(budget_year: i32, number: i64) -> String {
    format!("{budget_year}-{number:06}")
}

/// FIN-5: the legal basis printed on each order.
pub fn legal_basis(effective: Date) -> String {
    format!(
        "Convention-cadre de mutualisation des services numériques entre la Métropole de Lyon et la commune, \
         en vigueur depuis le {effective}, article 10 « Conditions financières » (contribution annuelle, titre émis en juin)."
    )
}

/// FIN-5: the means and time limit of appeal.
pub const APPEAL: &str = "Voies et délais de recours : dans un délai de deux mois suivant la notification du présent titre, \
vous pouvez contester la somme réclamée devant le tribunal administratif de Lyon, 184 rue Duguesclin, 69433 Lyon Cedex 03, \
y compris par l'application Télérecours citoyens (www.telerecours.fr).";

/// The default issuer (the metropolis's authorising officer).
pub const DEFAULT_ISSUER: &str = "Le Président de la Métropole de Lyon, ordonnateur";

/// FIN-5: what remains of an order after its corrections, and whether a
/// new correction fits.
pub fn remaining(amount: Decimal, corrections: &[Decimal]) -> Decimal {
    amount - corrections.iter().copied().sum::<Decimal>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn references_and_mentions_fin_5() {
        assert_eq!(reference(2026, 42), "2026-000042");
        assert!(
            legal_basis(date!(2026 - 04 - 15)).contains("article 10")
                && legal_basis(date!(2026 - 04 - 15)).contains("2026-04-15")
        );
        assert!(APPEAL.contains("deux mois") && APPEAL.contains("tribunal administratif de Lyon"));
        assert_eq!(
            remaining(Decimal::new(330000, 2), &[Decimal::new(30000, 2)]),
            Decimal::new(300000, 2)
        );
    }
}

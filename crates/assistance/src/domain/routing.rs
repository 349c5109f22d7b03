//! SAU-2: routing by competence. Each service has a competence matrix
//! (category → metropolis or commune). A commune's category goes to the help
//! team of the requester's commune when that commune has an annex in force
//! for the service (CONV-4); otherwise to the metropolis. The decision keeps
//! its reason, shown to agents.

/// Who is competent for a category of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Competence {
    Metropolis,
    Commune,
}

impl Competence {
    pub fn code(self) -> &'static str {
        match self {
            Competence::Metropolis => "metropolis",
            Competence::Commune => "commune",
        }
    }

    pub fn parse(code: &str) -> Option<Competence> {
        match code {
            "metropolis" => Some(Competence::Metropolis),
            "commune" => Some(Competence::Commune),
            _ => None,
        }
    }
}

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Metropolis,
    /// The commune's INSEE code.
    Commune(String),
}

/// Why it goes there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The category is the metropolis's competence.
    MetropolisCompetence,
    /// A commune's competence, and the requester's commune has joined the
    /// service.
    CommuneJoined,
    /// A commune's competence, but the requester's commune has not joined
    /// the service: the metropolis answers.
    CommuneNotJoined,
    /// A commune's competence, but the requester's commune is unknown or
    /// outside the metropolis.
    CommuneUnknown,
    /// The category is not in the service's matrix.
    UnknownCategory,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::MetropolisCompetence => "metropolis_competence",
            Reason::CommuneJoined => "commune_joined",
            Reason::CommuneNotJoined => "commune_not_joined",
            Reason::CommuneUnknown => "commune_unknown",
            Reason::UnknownCategory => "unknown_category",
        }
    }

    pub fn explanation_fr(self) -> &'static str {
        match self {
            Reason::MetropolisCompetence => "Cette catégorie relève de la Métropole.",
            Reason::CommuneJoined => {
                "Cette catégorie relève de la commune du demandeur, qui a adhéré au service."
            }
            Reason::CommuneNotJoined => {
                "Cette catégorie relève de la commune, mais la commune du demandeur n'a pas adhéré au service : la Métropole répond."
            }
            Reason::CommuneUnknown => {
                "Cette catégorie relève de la commune, mais la commune du demandeur n'est pas connue ou est hors de la Métropole : la Métropole répond."
            }
            Reason::UnknownCategory => {
                "Cette catégorie n'est pas dans la matrice de compétences du service : la Métropole répond."
            }
        }
    }

    pub fn explanation_en(self) -> &'static str {
        match self {
            Reason::MetropolisCompetence => "This category is the metropolis's.",
            Reason::CommuneJoined => {
                "This category is the requester's commune's, which joined the service."
            }
            Reason::CommuneNotJoined => {
                "This category is a commune's, but the requester's commune has not joined the service: the metropolis answers."
            }
            Reason::CommuneUnknown => {
                "This category is a commune's, but the requester's commune is unknown or outside the metropolis: the metropolis answers."
            }
            Reason::UnknownCategory => {
                "This category is not in the service's competence matrix: the metropolis answers."
            }
        }
    }
}

/// A routing decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub destination: Destination,
    pub reason: Reason,
}

/// Routes a request: `competence` from the service's matrix (`None`: the
/// category is not in it), `commune` the requester's (INSEE code, when it is
/// a member commune), `joined` whether that commune has an annex in force
/// for the service on the day of the request.
pub fn route(competence: Option<Competence>, commune: Option<&str>, joined: bool) -> Decision {
    let (destination, reason) = match (competence, commune) {
        (None, _) => (Destination::Metropolis, Reason::UnknownCategory),
        (Some(Competence::Metropolis), _) => {
            (Destination::Metropolis, Reason::MetropolisCompetence)
        }
        (Some(Competence::Commune), None) => (Destination::Metropolis, Reason::CommuneUnknown),
        (Some(Competence::Commune), Some(code)) if joined => (
            Destination::Commune(code.to_string()),
            Reason::CommuneJoined,
        ),
        (Some(Competence::Commune), Some(_)) => (Destination::Metropolis, Reason::CommuneNotJoined),
    };
    Decision {
        destination,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_by_competence_and_adhesion_sau_2() {
        // Toodego's `etat-civil` is a commune's: Villeurbanne joined.
        assert_eq!(
            route(Some(Competence::Commune), Some("69266"), true),
            Decision {
                destination: Destination::Commune("69266".into()),
                reason: Reason::CommuneJoined
            }
        );
        // Not joined, unknown commune, unknown category: the metropolis.
        for (competence, commune, joined, reason) in [
            (
                Some(Competence::Commune),
                Some("69266"),
                false,
                Reason::CommuneNotJoined,
            ),
            (
                Some(Competence::Commune),
                None,
                false,
                Reason::CommuneUnknown,
            ),
            (
                Some(Competence::Metropolis),
                Some("69266"),
                true,
                Reason::MetropolisCompetence,
            ),
            (None, Some("69266"), true, Reason::UnknownCategory),
        ] {
            let d = route(competence, commune, joined);
            assert_eq!(d.destination, Destination::Metropolis, "{reason:?}");
            assert_eq!(d.reason, reason);
        }
        assert_eq!(Competence::parse("commune"), Some(Competence::Commune));
        assert_eq!(Competence::parse("region"), None);
    }
}

//! SAU-3: the statuses of a help request and what moves it.
//! `new` → `in_progress` → `waiting_for_user` → `resolved` → `closed`; a
//! reply of the requester reopens a request waiting for them or resolved;
//! `resolved` closes itself after 14 days without a reply.

/// A help request's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    New,
    InProgress,
    WaitingForUser,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::InProgress,
        Status::WaitingForUser,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::InProgress => "in_progress",
            Status::WaitingForUser => "waiting_for_user",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Status::New => "Nouvelle",
            Status::InProgress => "En cours",
            Status::WaitingForUser => "En attente de votre réponse",
            Status::Resolved => "Résolue",
            Status::Closed => "Close",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::InProgress => "In progress",
            Status::WaitingForUser => "Waiting for your reply",
            Status::Resolved => "Resolved",
            Status::Closed => "Closed",
        }
    }
}

/// What happens to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An agent answers the requester.
    AgentReply,
    /// An agent sets the status.
    AgentSets(Status),
    /// The requester writes.
    RequesterReply,
    /// The daily job: resolved for 14 days without a reply.
    AutoClose,
}

/// Why an event cannot apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAllowed {
    /// A closed request takes nothing more (a new request is opened).
    Closed,
    /// Only a resolved request closes; `new` is never set by hand.
    Transition { from: Status, to: Status },
}

/// The status after `event`.
pub fn next(from: Status, event: Event) -> Result<Status, NotAllowed> {
    if from == Status::Closed {
        return Err(NotAllowed::Closed);
    }
    match event {
        // Answering a new request takes it in hand; otherwise the status
        // stays what the agent set.
        Event::AgentReply if from == Status::New => Ok(Status::InProgress),
        Event::AgentReply => Ok(from),
        Event::AgentSets(to) => match (from, to) {
            (_, Status::New) => Err(NotAllowed::Transition { from, to }),
            (Status::Resolved, Status::Closed) => Ok(Status::Closed),
            (_, Status::Closed) => Err(NotAllowed::Transition { from, to }),
            (_, to) => Ok(to),
        },
        // The requester's reply reopens what waited for them or was resolved.
        Event::RequesterReply => Ok(match from {
            Status::WaitingForUser | Status::Resolved => Status::InProgress,
            other => other,
        }),
        Event::AutoClose if from == Status::Resolved => Ok(Status::Closed),
        Event::AutoClose => Err(NotAllowed::Transition {
            from,
            to: Status::Closed,
        }),
    }
}

/// Days after which a resolved request closes itself.
pub const AUTO_CLOSE_DAYS: i64 = 14;

/// Whether a request resolved at `resolved_at_ms` closes itself at `now_ms`
/// (any reply of the requester would have reopened it).
pub fn closes_by_itself(status: Status, resolved_at_ms: i64, now_ms: i64) -> bool {
    status == Status::Resolved && now_ms - resolved_at_ms >= AUTO_CLOSE_DAYS * 24 * 3600 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn the_workflow_of_sau_3() {
        assert_eq!(next(New, Event::AgentReply), Ok(InProgress));
        assert_eq!(next(WaitingForUser, Event::AgentReply), Ok(WaitingForUser));
        assert_eq!(
            next(InProgress, Event::AgentSets(WaitingForUser)),
            Ok(WaitingForUser)
        );
        assert_eq!(next(InProgress, Event::AgentSets(Resolved)), Ok(Resolved));
        assert_eq!(next(Resolved, Event::AgentSets(Closed)), Ok(Closed));
        // A reply of the requester reopens.
        assert_eq!(next(WaitingForUser, Event::RequesterReply), Ok(InProgress));
        assert_eq!(next(Resolved, Event::RequesterReply), Ok(InProgress));
        assert_eq!(next(New, Event::RequesterReply), Ok(New));
        // Closed is final; closing by hand only from resolved; new never by hand.
        for e in [
            Event::AgentReply,
            Event::RequesterReply,
            Event::AutoClose,
            Event::AgentSets(InProgress),
        ] {
            assert_eq!(next(Closed, e), Err(NotAllowed::Closed), "{e:?}");
        }
        assert!(next(InProgress, Event::AgentSets(Closed)).is_err());
        assert!(next(InProgress, Event::AgentSets(New)).is_err());
        assert_eq!(next(Resolved, Event::AutoClose), Ok(Closed));
        assert!(next(WaitingForUser, Event::AutoClose).is_err());
    }

    #[test]
    fn resolved_closes_itself_after_14_days() {
        let day = 24 * 3600 * 1000;
        assert!(!closes_by_itself(Resolved, 0, 14 * day - 1));
        assert!(closes_by_itself(Resolved, 0, 14 * day));
        assert!(!closes_by_itself(WaitingForUser, 0, 30 * day));
    }

    #[test]
    fn codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
        }
        assert_eq!(Status::parse("open"), None);
    }
}

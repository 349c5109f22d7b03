//! The agreements area's daily work (OPS-5): claims deemed rejected after a
//! month (CONV-8), and referents warned 30 days before a notice deadline
//! (CONV-5).

use std::pin::Pin;

use kernel::audit::{self, Actor, Event};
use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::web::Scope;
use kernel::{Db, jobs};
use serde_json::json;
use time::{Date, Duration};

use crate::domain::agreement::AgreementState;
use crate::store::{self, ReferentKind};

/// How long before a notice deadline the referents are warned.
pub const WARNING_DAYS: i64 = 30;

pub const JOB: &str = "agreements.daily";

/// What a day's run did, for tests and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyReport {
    pub deemed_rejected: usize,
    pub warnings_queued: usize,
}

/// The day's work, once across nodes: `None` when it was already done.
pub async fn daily(db: &Db, today: Date) -> anyhow::Result<Option<DailyReport>> {
    // Reads first, outside the writing transaction (SQLite has one writer).
    let agreements = store::agreements(db, &Scope::All).await?;
    let referents = store::referents(db, &Scope::All, None).await?;
    let mut tx = db.begin().await?;
    if !jobs::claim_day(&mut tx, JOB, today).await? {
        return Ok(None);
    }
    let mut report = DailyReport {
        deemed_rejected: store::deem_rejected_disputes(&mut tx, today).await?,
        ..Default::default()
    };
    for a in &agreements {
        let AgreementState::InForce {
            next_notice: Some((anniversary, deadline)),
            ..
        } = a.state(today)
        else {
            continue;
        };
        if today < deadline - Duration::days(WARNING_DAYS) || today > deadline {
            continue;
        }
        let to: Vec<&store::Referent> = referents
            .iter()
            .filter(|r| r.organisation_id == a.commune.id || r.kind == ReferentKind::Project)
            .collect();
        for r in to {
            let key = format!("notice-deadline:{}:{deadline}:{}", a.id, r.email);
            if outbox::enqueue(
                &mut tx,
                &key,
                &Message::Email(warning(&a.commune.name, anniversary, deadline, &r.email)),
            )
            .await?
            {
                report.warnings_queued += 1;
            }
        }
    }
    audit::append(
        &mut tx,
        &Event::new(Actor::System, "job.daily", JOB).with(json!({
            "day": today.to_string(),
            "deemed_rejected": report.deemed_rejected,
            "warnings_queued": report.warnings_queued,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(report))
}

fn warning(commune: &str, anniversary: Date, deadline: Date, to: &str) -> Email {
    Email {
        to: to.to_string(),
        subject: format!(
            "Convention Mutualis de {commune} : préavis à recevoir au plus tard le {deadline}"
        ),
        text: format!(
            "Bonjour,\n\n\
             La convention-cadre de mutualisation des services numériques entre la Métropole de Lyon et {commune} \
             sera reconduite tacitement le {anniversary} pour une année.\n\n\
             Pour y mettre fin à cette échéance, la lettre recommandée avec accusé de réception doit être reçue \
             au plus tard le {deadline} (préavis de trois mois, article 12.2 de la convention). \
             Si la convention doit se poursuivre, vous n'avez rien à faire.\n\n\
             Mutualis — Métropole de Lyon\n\n\
             ---\n\
             The framework agreement between the Métropole de Lyon and {commune} renews tacitly on {anniversary}. \
             To end it then, the registered letter must be received by {deadline} (three months' notice). \
             Nothing to do if it should go on.\n"
        ),
        html: None,
    }
}

/// The job as the node's scheduler runs it.
pub fn daily_job(
    db: Db,
    today: Date,
) -> Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        if let Some(report) = daily(&db, today).await? {
            tracing::info!(
                deemed_rejected = report.deemed_rejected,
                warnings = report.warnings_queued,
                "agreements daily job done"
            );
        }
        Ok(())
    })
}

//! SAU-1 to SAU-5 on the demo data, on both databases: routing by
//! competence and adhesion, references under concurrency, the thread with
//! internal notes hidden from the requester, the workflow, transfers, and
//! the e-mails queued for the requester.

use assistance::domain::routing::{Destination, Reason};
use assistance::domain::workflow::Status;
use assistance::store::{self, NewRequest, Reader};
use kernel::web::Scope;
use kernel::{Db, testing};
use sqlx::Row;

use crate::support::TestApp;

const URL: &str = "https://mutualis.example";

fn request<'a>(service: &'a str, category: &'a str, commune: Option<&'a str>) -> NewRequest<'a> {
    NewRequest {
        service_code: service,
        category,
        subject: "Lampadaire en panne",
        message: "Le lampadaire devant le 12 rue Francis de Pressensé ne s'allume plus.",
        page_url: Some("https://toodego.example/signaler"),
        email: "habitant@example.fr",
        account_id: None,
        commune,
        attachments: &[],
        topic: None,
    }
}

async fn org(t: &testing::TestDb, insee: Option<&str>) -> i64 {
    let row = match insee {
        Some(code) => {
            sqlx::query("SELECT id FROM organisations WHERE insee_code = $1")
                .bind(code)
                .fetch_one(t.db.pool())
                .await
        }
        None => {
            sqlx::query("SELECT id FROM organisations WHERE kind = 'metropolis'")
                .fetch_one(t.db.pool())
                .await
        }
    };
    row.unwrap().get("id")
}

async fn emails_to(t: &testing::TestDb, key_prefix: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE idempotency_key LIKE $1")
        .bind(format!("{key_prefix}%"))
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get("n")
}

async fn stored(t: &testing::TestDb) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM help_requests")
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get("n")
}

#[tokio::test]
async fn requests_go_to_the_competent_body_with_the_reason_sau_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let before = stored(&t).await;
        let acks = emails_to(&t, "help-ack:").await;
        // A commune's category, Villeurbanne joined Toodego (demo): Villeurbanne.
        let c = store::create(db, &request("toodego", "etat-civil", Some("69266")), URL)
            .await
            .unwrap();
        assert_eq!(
            c.decision.destination,
            Destination::Commune("69266".into()),
            "{}",
            t.name
        );
        assert_eq!(c.decision.reason, Reason::CommuneJoined);
        assert_eq!(c.organisation_id, org(&t, Some("69266")).await);
        // Lyon's agreement is a draft: the metropolis answers, and says why.
        let lyon = store::create(db, &request("toodego", "etat-civil", Some("69123")), URL)
            .await
            .unwrap();
        assert_eq!(lyon.decision.reason, Reason::CommuneNotJoined, "{}", t.name);
        assert_eq!(lyon.organisation_id, org(&t, None).await);
        // The metropolis's own competence, whatever the commune.
        let road = store::create(db, &request("toodego", "voirie", Some("69266")), URL)
            .await
            .unwrap();
        assert_eq!(road.decision.reason, Reason::MetropolisCompetence);
        // No commune known.
        let anonymous = store::create(db, &request("toodego", "ecoles", None), URL)
            .await
            .unwrap();
        assert_eq!(anonymous.decision.reason, Reason::CommuneUnknown);
        let routings = store::routings(db, lyon.id).await.unwrap();
        assert_eq!(routings.len(), 1);
        assert_eq!(routings[0].reason, "commune_not_joined");
        // Unknown service or category: refused, nothing stored.
        assert!(
            store::create(db, &request("nope", "voirie", None), URL)
                .await
                .is_err()
        );
        assert!(
            store::create(db, &request("toodego", "nope", None), URL)
                .await
                .is_err()
        );
        assert_eq!(stored(&t).await, before + 4, "{}", t.name);
        // Each got its acknowledgement with its tracking link.
        assert_eq!(emails_to(&t, "help-ack:").await, acks + 4);
        let payload: String = sqlx::query("SELECT payload FROM outbox WHERE idempotency_key = $1")
            .bind(format!("help-ack:{}", c.reference))
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("payload");
        assert!(payload.contains(&store::tracking_link(URL, &c.reference, &c.tracking_token)));
        app.stop().await;
    }
}

#[tokio::test]
async fn references_are_unique_under_concurrency_sau_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let db = app.state.db.clone();
            tasks.push(tokio::spawn(async move {
                store::create(&db, &request("toodego", "voirie", None), URL)
                    .await
                    .unwrap()
                    .reference
            }));
        }
        let mut references = Vec::new();
        for task in tasks {
            references.push(task.await.unwrap());
        }
        references.sort();
        references.dedup();
        assert_eq!(references.len(), 24, "{}", t.name);
        let numbers: Vec<i64> = references
            .iter()
            .map(|r| assistance::domain::reference::parse(r).unwrap().1)
            .collect();
        let first = numbers[0];
        assert_eq!(
            numbers,
            (first..first + 24).collect::<Vec<_>>(),
            "{}: no gap",
            t.name
        );
        // SAU-4 across nodes: a second node on the same database reserves
        // its own block of numbers (kernel::Db::next_number), so the two
        // nodes' references never collide, whatever the interleaving.
        let other = Db::connect(&t.url).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = if i % 2 == 0 {
                app.state.db.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                store::create(&db, &request("toodego", "voirie", None), URL)
                    .await
                    .unwrap()
                    .reference
            }));
        }
        for task in tasks {
            references.push(task.await.unwrap());
        }
        references.sort();
        references.dedup();
        assert_eq!(references.len(), 24 + 40, "{}: unique across nodes", t.name);
        other.close().await;
        // The tracking secrets are long and distinct; a wrong one finds nothing.
        let c = store::create(&app.state.db, &request("toodego", "voirie", None), URL)
            .await
            .unwrap();
        assert!(c.tracking_token.len() >= 32, "at least 128 bits");
        assert!(
            store::by_tracking(&app.state.db, &c.reference, &c.tracking_token)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store::by_tracking(&app.state.db, &c.reference, "guess")
                .await
                .unwrap()
                .is_none()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_thread_the_workflow_and_what_the_requester_sees_sau_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let agent: i64 =
            sqlx::query("SELECT id FROM accounts WHERE email = 'assistance@villeurbanne.demo'")
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get("id");
        let c = store::create(db, &request("toodego", "etat-civil", Some("69266")), URL)
            .await
            .unwrap();
        // An internal note: the status stays new, the requester sees nothing.
        let s = store::agent_message(
            db,
            c.id,
            agent,
            "Voir avec le service état civil.",
            true,
            URL,
        )
        .await
        .unwrap();
        assert_eq!(s, Status::New, "{}", t.name);
        let requester = store::thread(db, c.id, Reader::Requester).await.unwrap();
        assert_eq!(requester.len(), 1, "{}: the note is hidden", t.name);
        assert!(!requester.iter().any(|m| m.body.contains("état civil")));
        assert_eq!(
            store::thread(db, c.id, Reader::Agent).await.unwrap().len(),
            2
        );
        assert_eq!(
            emails_to(&t, &format!("help-reply:{}:", c.id)).await,
            0,
            "no e-mail for a note"
        );
        // A reply takes it in hand, records the first answer, e-mails the requester.
        let s = store::agent_message(
            db,
            c.id,
            agent,
            "Pouvez-vous préciser la date ?",
            false,
            URL,
        )
        .await
        .unwrap();
        assert_eq!(s, Status::InProgress);
        assert_eq!(emails_to(&t, &format!("help-reply:{}:", c.id)).await, 1);
        let now = store::for_scope(
            db,
            &Scope::Organisations(vec![c.organisation_id]),
            &c.reference,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(now.first_answer_at.is_some());
        // Waiting for the requester, whose reply reopens it.
        store::set_status(db, c.id, Status::WaitingForUser, URL)
            .await
            .unwrap();
        assert_eq!(
            store::requester_message(db, c.id, "Le 3 novembre.", &[])
                .await
                .unwrap(),
            Status::InProgress
        );
        // Resolved, then closed; a closed request takes nothing more.
        store::set_status(db, c.id, Status::Resolved, URL)
            .await
            .unwrap();
        assert!(store::set_status(db, c.id, Status::New, URL).await.is_err());
        store::set_status(db, c.id, Status::Closed, URL)
            .await
            .unwrap();
        assert!(
            store::requester_message(db, c.id, "Encore une chose", &[])
                .await
                .is_err(),
            "{}",
            t.name
        );
        assert_eq!(emails_to(&t, &format!("help-status:{}:", c.id)).await, 3);
        // Another organisation's agent does not find it.
        let lyon = org(&t, Some("69123")).await;
        assert!(
            store::for_scope(db, &Scope::Organisations(vec![lyon]), &c.reference)
                .await
                .unwrap()
                .is_none()
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_transfer_keeps_its_reason_and_tells_the_requester_sau_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let c = store::create(db, &request("toodego", "voirie", Some("69266")), URL)
            .await
            .unwrap();
        let villeurbanne = org(&t, Some("69266")).await;
        store::transfer(
            db,
            c.id,
            1,
            villeurbanne,
            "Il s'agit d'une voie communale.",
            URL,
        )
        .await
        .unwrap();
        let routings = store::routings(db, c.id).await.unwrap();
        assert_eq!(routings.len(), 2, "{}", t.name);
        assert_eq!(routings[1].reason, "transfer");
        assert_eq!(
            routings[1].note.as_deref(),
            Some("Il s'agit d'une voie communale.")
        );
        assert!(
            store::for_scope(db, &Scope::Organisations(vec![villeurbanne]), &c.reference)
                .await
                .unwrap()
                .is_some()
        );
        let thread = store::thread(db, c.id, Reader::Requester).await.unwrap();
        assert!(
            thread.last().unwrap().body.contains("voie communale"),
            "{}",
            t.name
        );
        assert_eq!(emails_to(&t, &format!("help-transfer:{}:", c.id)).await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_help_form_and_the_tracking_page_sau_1_sau_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let form = b.get("/aide?service=toodego&category=etat-civil&page=https%3A%2F%2Ftoodego.example%2Fnaissance").await;
        assert_eq!(form.status, 200, "{}", t.name);
        assert!(form.body.contains("value=\"toodego/etat-civil\" selected"));
        assert!(
            form.body
                .contains("value=\"https://toodego.example/naissance\"")
        );
        // Bad input: every problem named, what was typed kept, nothing stored.
        let bad = b
            .post_form(
                "/aide",
                &[
                    ("csrf_token", &form.csrf()),
                    ("topic", "toodego/nope"),
                    ("subject", ""),
                    ("message", "Bonjour"),
                    ("email", "pas-une-adresse"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", t.name);
        assert!(bad.body.contains("choisissez un service et une catégorie"));
        assert!(
            bad.body
                .contains("Adresse e-mail : saisissez une adresse valide")
        );
        assert!(bad.body.contains(">Bonjour</textarea>"));
        // The demo's requests only.
        assert_eq!(stored(&t).await, 2, "{}", t.name);
        // A good one, without an account: routed to Villeurbanne.
        let created = b
            .post_form(
                "/aide",
                &[
                    ("csrf_token", &form.csrf()),
                    ("topic", "toodego/etat-civil"),
                    ("subject", "Acte de naissance"),
                    ("message", "Je n'ai pas reçu l'acte demandé le 2 novembre."),
                    ("email", "habitante@example.fr"),
                    ("commune", "69266"),
                    ("page", "https://toodego.example/naissance"),
                ],
            )
            .await;
        assert_eq!(created.status, 201, "{}: {}", t.name, created.body);
        assert!(created.body.contains("la commune de Villeurbanne"));
        let (link, reference) = tracking_link_in(&created.body);
        // An agent's internal note and a reply: the tracking page shows the
        // reply, never the note.
        let request = store::for_scope(
            &app.state.db,
            &Scope::Organisations(vec![org(&t, Some("69266")).await]),
            &reference,
        )
        .await
        .unwrap()
        .unwrap();
        store::agent_message(
            &app.state.db,
            request.id,
            1,
            "NOTE-INTERNE-confidentielle",
            true,
            URL,
        )
        .await
        .unwrap();
        store::agent_message(
            &app.state.db,
            request.id,
            1,
            "Nous renvoyons le document ce jour.",
            false,
            URL,
        )
        .await
        .unwrap();
        store::set_status(&app.state.db, request.id, Status::WaitingForUser, URL)
            .await
            .unwrap();
        let page = b.get(&link).await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(page.body.contains("Nous renvoyons le document ce jour."));
        assert!(
            !page.body.contains("NOTE-INTERNE"),
            "{}: internal note shown",
            t.name
        );
        assert!(page.body.contains("En attente de votre réponse"));
        // The requester replies: the request reopens.
        let token = link.split("jeton=").nth(1).unwrap();
        let replied = b
            .post_form(
                &format!("/aide/suivi/{reference}"),
                &[
                    ("csrf_token", &page.csrf()),
                    ("jeton", token),
                    ("message", "Merci, bien reçu."),
                ],
            )
            .await;
        assert_eq!(replied.status, 303, "{}", t.name);
        let again = b.get(replied.location()).await;
        assert!(again.body.contains("Votre message est envoyé."));
        assert!(again.body.contains("En cours"));
        // Without the secret, or with another, the request does not exist.
        assert_eq!(
            b.get(&format!("/aide/suivi/{reference}?jeton=devine"))
                .await
                .status,
            404
        );
        assert_eq!(b.get(&format!("/aide/suivi/{reference}")).await.status, 404);
        let forged = b
            .post_form(
                &format!("/aide/suivi/{reference}"),
                &[
                    ("csrf_token", &page.csrf()),
                    ("jeton", "devine"),
                    ("message", "x"),
                ],
            )
            .await;
        assert_eq!(forged.status, 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_agents_inbox_and_request_page_sau_3_and_isolation() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        // 55 requests for Villeurbanne, one of them overdue.
        let mut last = None;
        for _ in 0..55 {
            last = Some(
                store::create(db, &request("toodego", "etat-civil", Some("69266")), URL)
                    .await
                    .unwrap(),
            );
        }
        let last = last.unwrap();
        sqlx::query("UPDATE help_requests SET first_answer_due = '2020-01-02', subject = 'DEMANDE-EN-RETARD' WHERE id = $1")
            .bind(last.id)
            .execute(t.db.pool())
            .await
            .unwrap();
        let agent = app.browser();
        agent
            .login("assistance@villeurbanne.demo", server::demo::DEMO_PASSWORD)
            .await;
        let inbox = agent.get("/gestion/aide").await;
        assert_eq!(inbox.status, 200, "{}", t.name);
        assert!(inbox.body.contains("Villeurbanne"));
        assert_eq!(
            inbox.body.matches("href=\"/gestion/aide/SAU-").count(),
            50,
            "{}: first page",
            t.name
        );
        let start = inbox.body.find("/gestion/aide?organisation=").unwrap();
        let end = inbox.body[start..].find('"').unwrap() + start;
        // Askama writes & as &#38; in attributes, as a browser reads it.
        let next = inbox.body[start..end].replace("&#38;", "&");
        assert!(next.contains("apres="), "{next}");
        let villeurbanne_total: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM help_requests WHERE organisation_id = $1")
                .bind(org(&t, Some("69266")).await)
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get("n");
        let second = agent.get(&next).await;
        assert_eq!(
            second.body.matches("href=\"/gestion/aide/SAU-").count() as i64,
            villeurbanne_total - 50,
            "{}: second page",
            t.name
        );
        let late = agent.get("/gestion/aide?retard=1").await;
        assert_eq!(late.body.matches("href=\"/gestion/aide/SAU-").count(), 1);
        assert!(late.body.contains("DEMANDE-EN-RETARD") && late.body.contains("En retard"));

        // The request page: routing reason, a note, a reply, a status, assignment.
        let page = agent
            .get(&format!("/gestion/aide/{}", last.reference))
            .await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(
            page.body.contains("qui a adhéré au service"),
            "the routing reason is shown"
        );
        let csrf = page.csrf();
        let path = |what: &str| format!("/gestion/aide/{}/{what}", last.reference);
        for (what, fields) in [
            ("message", vec![("message", "NOTE-AGENT"), ("interne", "1")]),
            ("message", vec![("message", "Voici la réponse.")]),
            ("statut", vec![("statut", "waiting_for_user")]),
            ("attribution", vec![("agent", "moi")]),
        ] {
            let mut form = vec![("csrf_token", csrf.as_str())];
            form.extend(fields);
            let r = agent.post_form(&path(what), &form).await;
            assert_eq!(r.status, 303, "{}: {what}", t.name);
        }
        let page = agent
            .get(&format!("/gestion/aide/{}", last.reference))
            .await;
        assert!(page.body.contains("Note interne") && page.body.contains("NOTE-AGENT"));
        assert!(page.body.contains("En attente de votre réponse") && page.body.contains("À vous"));
        let mine = agent.get("/gestion/aide?moi=1").await;
        // The demo's request is nobody's; this one is the agent's.
        assert_eq!(mine.body.matches("href=\"/gestion/aide/SAU-").count(), 1);
        // The requester's page never shows the note.
        let tracked = app
            .browser()
            .get(&format!(
                "/aide/suivi/{}?jeton={}",
                last.reference, last.tracking_token
            ))
            .await;
        assert!(tracked.body.contains("Voici la réponse.") && !tracked.body.contains("NOTE-AGENT"));
        // Closing by hand needs a resolved request: a French refusal.
        let refused = agent
            .post_form(
                &path("statut"),
                &[("csrf_token", &csrf), ("statut", "closed")],
            )
            .await;
        assert_eq!(refused.status, 400, "{}", t.name);
        assert!(refused.body.contains("ne peut pas passer à"));

        // Isolation: a commune's agent elsewhere finds nothing of it.
        let lyon_id = org(&t, Some("69123")).await;
        let lyon_agent =
            store::for_scope(db, &Scope::Organisations(vec![lyon_id]), &last.reference)
                .await
                .unwrap();
        assert!(lyon_agent.is_none());
        // Villeurbanne's agent sees only Villeurbanne: no other organisation to pick.
        let other = agent
            .get(&format!("/gestion/aide?organisation={lyon_id}"))
            .await;
        assert_eq!(other.status, 404, "{}", t.name);
        // The transfer to Lyon takes it out of Villeurbanne's reach.
        let moved = agent
            .post_form(
                &path("transfert"),
                &[
                    ("csrf_token", &csrf),
                    ("organisation", &lyon_id.to_string()),
                    ("motif", "Naissance à Lyon."),
                ],
            )
            .await;
        assert_eq!(moved.status, 303, "{}", t.name);
        assert_eq!(
            agent
                .get(&format!("/gestion/aide/{}", last.reference))
                .await
                .status,
            404
        );
        let r = agent
            .post_form(&path("message"), &[("csrf_token", &csrf), ("message", "x")])
            .await;
        assert_eq!(
            r.status, 404,
            "{}: no action on another commune's request",
            t.name
        );
        // The metropolis's staff see every organisation's inbox.
        let admin = app.browser();
        admin
            .login("admin@metropole.demo", server::demo::DEMO_PASSWORD)
            .await;
        let lyon_inbox = admin
            .get(&format!("/gestion/aide?organisation={lyon_id}"))
            .await;
        assert!(lyon_inbox.body.contains(&last.reference), "{}", t.name);
        app.stop().await;
    }
}

/// SAU-5 over real SMTP: acknowledgement with the tracking link, reply,
/// status change, transfer to the requester; assignment to the agent.
#[tokio::test]
async fn the_requester_and_the_agent_are_told_by_e_mail_sau_5() {
    let Some(smtp) = kernel::testing::SmtpServer::start() else {
        return;
    };
    let t = testing::sqlite().await;
    let app = TestApp::spawn_with_smtp(&t, &smtp).await;
    let db = &app.state.db;
    let url = app.state.site.public_url.clone();
    let mut r = request("toodego", "etat-civil", Some("69266"));
    r.email = "suivi.smtp@example.fr";
    let c = store::create(db, &r, &url).await.unwrap();
    // The acknowledgement carries the tracking link, which opens the request.
    let link = crate::http::mailed_link(&smtp, "suivi.smtp@example.fr", "/aide/suivi/").await;
    let page = app.browser().get(&link).await;
    assert_eq!(page.status, 200, "{link}");
    assert!(page.body.contains(&c.reference));
    let agent: i64 =
        sqlx::query("SELECT id FROM accounts WHERE email = 'assistance@villeurbanne.demo'")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("id");
    store::assign(db, c.id, Some(agent), &url).await.unwrap();
    store::agent_message(db, c.id, agent, "Réponse de l'agent.", false, &url)
        .await
        .unwrap();
    store::set_status(db, c.id, Status::WaitingForUser, &url)
        .await
        .unwrap();
    let lyon = org(&t, Some("69123")).await;
    store::transfer(db, c.id, agent, lyon, "Naissance à Lyon.", &url)
        .await
        .unwrap();
    let count = |to: &'static str| {
        smtp.messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")) && m.contains(&c.reference))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (count("suivi.smtp@example.fr") < 4 || count("assistance@villeurbanne.demo") < 1)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        count("suivi.smtp@example.fr"),
        4,
        "ack, reply, status, transfer"
    );
    assert_eq!(count("assistance@villeurbanne.demo"), 1, "assignment");
    // The daily job closes what stayed resolved 14 days, and says so.
    store::set_status(db, c.id, Status::InProgress, &url)
        .await
        .unwrap();
    store::set_status(db, c.id, Status::Resolved, &url)
        .await
        .unwrap();
    sqlx::query("UPDATE help_requests SET resolved_at = resolved_at - $1 WHERE id = $2")
        .bind(15 * 24 * 3600 * 1000_i64)
        .bind(c.id)
        .execute(t.db.pool())
        .await
        .unwrap();
    let tomorrow = kernel::clock::today().next_day().unwrap();
    assert_eq!(store::daily(db, tomorrow, &url).await.unwrap(), Some(1));
    assert_eq!(
        store::daily(db, tomorrow, &url).await.unwrap(),
        None,
        "once a day"
    );
    let lyon_view = store::for_scope(db, &Scope::Organisations(vec![lyon]), &c.reference)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lyon_view.status, Status::Closed);
    app.stop().await;
}

/// SAU-4: a signed-in person's requests, read and answered without the
/// secret link; nobody else's.
#[tokio::test]
async fn my_requests_for_a_signed_in_person_sau_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let cli = |email: &str| {
            let db = app.state.db.clone();
            let email = email.to_string();
            async move {
                identity::store::create_inhabitant(
                    &db,
                    &identity::domain::EmailAddress::parse(&email).unwrap(),
                    &kernel::password::hash_blocking("une phrase de passe solide"),
                    true,
                    &[(identity::domain::sheet::Field::Commune, "69266".to_string())],
                )
                .await
                .unwrap()
            }
        };
        cli("camille.compte@example.fr").await;
        cli("autre.compte@example.fr").await;
        let b = app.browser();
        b.sign_in("camille.compte@example.fr", "une phrase de passe solide")
            .await;
        let form = b.get("/aide").await;
        assert!(
            form.body.contains("value=\"camille.compte@example.fr\""),
            "{}: e-mail filled in",
            t.name
        );
        assert!(
            form.body.contains("value=\"69266\" selected"),
            "{}: commune filled in",
            t.name
        );
        let created = b
            .post_form(
                "/aide",
                &[
                    ("csrf_token", &form.csrf()),
                    ("topic", "toodego/eau"),
                    ("subject", "Fuite sur le trottoir"),
                    ("message", "Une fuite d'eau depuis ce matin."),
                    ("email", "camille.compte@example.fr"),
                    ("commune", "69266"),
                ],
            )
            .await;
        assert_eq!(created.status, 201, "{}", t.name);
        let mine = b.get("/compte/demandes").await;
        assert!(mine.body.contains("Fuite sur le trottoir"), "{}", t.name);
        let start = mine.body.find("/aide/suivi/SAU-").unwrap();
        let end = mine.body[start..].find('"').unwrap() + start;
        let path = mine.body[start..end].to_string();
        let page = b.get(&path).await;
        assert_eq!(
            page.status, 200,
            "{}: the owner reads it without the secret",
            t.name
        );
        let replied = b
            .post_form(
                &path,
                &[
                    ("csrf_token", &page.csrf()),
                    ("jeton", ""),
                    ("message", "Elle continue."),
                ],
            )
            .await;
        assert_eq!(replied.status, 303, "{}", t.name);
        assert!(
            b.get(replied.location())
                .await
                .body
                .contains("Elle continue.")
        );
        // Someone else, signed in or not, does not find it.
        let other = app.browser();
        other
            .sign_in("autre.compte@example.fr", "une phrase de passe solide")
            .await;
        assert_eq!(other.get(&path).await.status, 404, "{}", t.name);
        assert!(
            !other
                .get("/compte/demandes")
                .await
                .body
                .contains("Fuite sur le trottoir")
        );
        assert_eq!(app.browser().get(&path).await.status, 404);
        app.stop().await;
    }
}

/// SAU-2: the metropolis's administrators edit the competence matrices;
/// a commune's staff read them only.
#[tokio::test]
async fn the_competence_matrix_is_edited_by_the_metropolis_sau_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let admin = app.browser();
        admin
            .login("admin@metropole.demo", server::demo::DEMO_PASSWORD)
            .await;
        let page = admin.get("/gestion/aide/competences").await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(page.body.contains("État civil") && page.body.contains("Collèges"));
        let csrf = page.csrf();
        let bad = admin
            .post_form(
                "/gestion/aide/competences",
                &[
                    ("csrf_token", &csrf),
                    ("service", "toodego"),
                    ("code", "Stationnement!"),
                    ("label", ""),
                    ("competence", "region"),
                    ("first_answer_days", "10"),
                    ("resolution_days", "2"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", t.name);
        for problem in ["Code :", "Libellé :", "Compétence :", "Délais :"] {
            assert!(bad.body.contains(problem), "{problem}");
        }
        let ok = admin
            .post_form(
                "/gestion/aide/competences",
                &[
                    ("csrf_token", &csrf),
                    ("service", "toodego"),
                    ("code", "stationnement"),
                    ("label", "Stationnement"),
                    ("competence", "commune"),
                    ("first_answer_days", "2"),
                    ("resolution_days", "10"),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{}", t.name);
        assert!(
            admin
                .get("/gestion/aide/competences")
                .await
                .body
                .contains("<code>stationnement</code>")
        );
        // It routes at once: Villeurbanne joined Toodego.
        let c = store::create(
            &app.state.db,
            &request("toodego", "stationnement", Some("69266")),
            URL,
        )
        .await
        .unwrap();
        assert_eq!(c.decision.reason, Reason::CommuneJoined, "{}", t.name);
        // A commune's staff read the matrices but cannot change them.
        let commune = app.browser();
        commune
            .login("admin@villeurbanne.demo", server::demo::DEMO_PASSWORD)
            .await;
        let read = commune.get("/gestion/aide/competences").await;
        assert_eq!(read.status, 200);
        assert!(!read.body.contains("action=\"/gestion/aide/competences\""));
        let refused = commune
            .post_form(
                "/gestion/aide/competences",
                &[
                    ("csrf_token", &read.csrf()),
                    ("service", "toodego"),
                    ("code", "voirie"),
                    ("label", "Voirie"),
                    ("competence", "commune"),
                    ("first_answer_days", "1"),
                    ("resolution_days", "1"),
                ],
            )
            .await;
        assert_eq!(refused.status, 403, "{}", t.name);
        let voirie = store::categories(&app.state.db, "toodego").await.unwrap();
        assert_eq!(
            voirie
                .iter()
                .find(|c| c.code == "voirie")
                .unwrap()
                .competence,
            assistance::domain::routing::Competence::Metropolis
        );
        app.stop().await;
    }
}

/// SAU-3: an organisation's canned answers start a reply; another
/// organisation's are out of reach.
#[tokio::test]
async fn canned_answers_of_an_organisation_sau_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let agent = app.browser();
        agent
            .login("assistance@villeurbanne.demo", server::demo::DEMO_PASSWORD)
            .await;
        let villeurbanne = org(&t, Some("69266")).await;
        let page = agent.get("/gestion/aide/reponses-types").await;
        assert_eq!(page.status, 200, "{}", t.name);
        let saved = agent
            .post_form(
                "/gestion/aide/reponses-types",
                &[
                    ("csrf_token", &page.csrf()),
                    ("organisation", &villeurbanne.to_string()),
                    ("title", "Acte envoyé"),
                    ("body", "Votre acte est parti par courrier ce jour."),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", t.name);
        // Not for another commune.
        let lyon = org(&t, Some("69123")).await;
        let refused = agent
            .post_form(
                "/gestion/aide/reponses-types",
                &[
                    ("csrf_token", &page.csrf()),
                    ("organisation", &lyon.to_string()),
                    ("title", "x"),
                    ("body", "y"),
                ],
            )
            .await;
        assert_eq!(refused.status, 404, "{}", t.name);
        let answers = store::canned_answers(&app.state.db, villeurbanne)
            .await
            .unwrap();
        assert_eq!(answers.len(), 1);
        assert!(
            store::canned_answers(&app.state.db, lyon)
                .await
                .unwrap()
                .is_empty()
        );
        // On a request of Villeurbanne, it starts the reply.
        let c = store::create(
            &app.state.db,
            &request("toodego", "etat-civil", Some("69266")),
            URL,
        )
        .await
        .unwrap();
        let request_page = agent.get(&format!("/gestion/aide/{}", c.reference)).await;
        assert!(request_page.body.contains("Acte envoyé"), "{}", t.name);
        let filled = agent
            .get(&format!(
                "/gestion/aide/{}?reponse-type={}",
                c.reference, answers[0].id
            ))
            .await;
        assert!(
            filled
                .body
                .contains(">Votre acte est parti par courrier ce jour.</textarea>")
        );
        app.stop().await;
    }
}

/// SAU-6: a service's FAQ searched in full text on both databases, and the
/// "did this answer your question?" counts.
#[tokio::test]
async fn the_faq_is_searched_in_full_text_and_rated_sau_6() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let metropolis = org(&t, None).await;
        let villeurbanne = org(&t, Some("69266")).await;
        let birth = store::add_faq_entry(
            db,
            "toodego",
            Some("etat-civil"),
            villeurbanne,
            "Comment obtenir un acte de reconnaissance anticipée ?",
            "Prenez rendez-vous en mairie ; l'acte est établi le jour même.",
        )
        .await
        .unwrap();
        store::add_faq_entry(
            db,
            "toodego",
            Some("dechets"),
            metropolis,
            "Quand passe la balayeuse mécanique ?",
            "Le balayage mécanique suit un calendrier affiché en mairie.",
        )
        .await
        .unwrap();
        store::add_faq_entry(
            db,
            "laclasse.com",
            None,
            metropolis,
            "Mot de passe perdu",
            "Utilisez le lien « mot de passe oublié ».",
        )
        .await
        .unwrap();
        let found = store::faq(db, "toodego", "reconnaissance anticipée", 5)
            .await
            .unwrap();
        assert_eq!(
            found.first().map(|e| e.id),
            Some(birth),
            "{}: {found:?}",
            t.name
        );
        assert!(found.iter().all(|e| e.service_code == "toodego"));
        let sweeper = store::faq(db, "toodego", "balayeuse", 5).await.unwrap();
        assert_eq!(sweeper.len(), 1, "{}", t.name);
        // Hostile queries are plain words.
        for q in ["\" OR 1=1 --", "NEAR(a b)", "naissance*", "a:b & | !", ""] {
            assert!(
                store::faq(db, "toodego", q, 5).await.is_ok(),
                "{}: {q}",
                t.name
            );
        }
        // Nothing from another service.
        assert!(
            store::faq(db, "toodego", "perdu", 5)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.name
        );
        // Ratings, and the most helpful first without a query.
        store::faq_feedback(db, birth, true).await.unwrap();
        store::faq_feedback(db, birth, true).await.unwrap();
        store::faq_feedback(db, birth, false).await.unwrap();
        let top = store::faq(db, "toodego", "", 5).await.unwrap();
        assert_eq!(
            (top[0].id, top[0].helpful, top[0].not_helpful),
            (birth, 2, 1),
            "{}",
            t.name
        );
        assert!(matches!(
            store::faq_feedback(db, 999_999, true).await,
            Err(assistance::Error::NotFound)
        ));
        app.stop().await;
    }
}

/// SAU-6 on the help page: the service's FAQ before the form, searched, and
/// rated without JavaScript.
#[tokio::test]
async fn the_faq_comes_before_the_form_sau_6() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let page = b.get("/aide?service=toodego&q=naissance").await;
        assert_eq!(page.status, 200, "{}", t.name);
        let faq = page.body.find("Questions fréquentes").expect("the FAQ");
        let form = page
            .body
            .find("action=\"/aide?csrf_token=")
            .expect("the form");
        assert!(faq < form, "{}: the FAQ comes first", t.name);
        assert!(
            page.body.contains("copie d&#39;acte de naissance")
                || page.body.contains("copie d'acte de naissance")
        );
        assert!(
            !page.body.contains("encombrants"),
            "{}: only what matches",
            t.name
        );
        let start = page.body.find("/aide/faq/").unwrap();
        let end = page.body[start..].find('"').unwrap() + start;
        let action = page.body[start..end].to_string();
        let rated = b
            .post_form(
                &action,
                &[
                    ("csrf_token", &page.csrf()),
                    ("avis", "oui"),
                    ("service", "toodego"),
                    ("page", ""),
                ],
            )
            .await;
        assert_eq!(rated.status, 303, "{}", t.name);
        let thanks = b.get(rated.location()).await;
        assert!(thanks.body.contains("Merci pour votre avis."), "{}", t.name);
        let helpful: i64 =
            sqlx::query("SELECT helpful FROM faq_entries WHERE question LIKE '%naissance%'")
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get("helpful");
        assert_eq!(helpful, 1, "{}", t.name);
        let bad = b
            .post_form(
                &action,
                &[("csrf_token", &page.csrf()), ("avis", "peut-être")],
            )
            .await;
        assert_eq!(bad.status, 400, "{}", t.name);
        app.stop().await;
    }
}

/// SAU-6: the metropolis writes FAQ entries for any category, a commune for
/// its own competences only.
#[tokio::test]
async fn faq_entries_are_written_by_the_competent_body_sau_6() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let metropolis = org(&t, None).await.to_string();
        let villeurbanne = org(&t, Some("69266")).await.to_string();
        let admin = app.browser();
        admin
            .login("admin@metropole.demo", server::demo::DEMO_PASSWORD)
            .await;
        let page = admin.get("/gestion/aide/faq").await;
        assert_eq!(page.status, 200, "{}", t.name);
        let ok = admin
            .post_form(
                "/gestion/aide/faq",
                &[
                    ("csrf_token", &page.csrf()),
                    ("organisation", &metropolis),
                    ("topic", "toodego/voirie"),
                    ("question", "QUESTION-VOIRIE"),
                    ("answer", "Réponse."),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{}", t.name);
        let agent = app.browser();
        agent
            .login("assistance@villeurbanne.demo", server::demo::DEMO_PASSWORD)
            .await;
        let page = agent.get("/gestion/aide/faq").await;
        assert!(page.body.contains("QUESTION-VOIRIE"));
        // A commune's category: yes; the metropolis's: no; on behalf of the metropolis: no.
        for (topic, organisation, status) in [
            ("toodego/elections", villeurbanne.as_str(), 303),
            ("toodego/voirie", villeurbanne.as_str(), 422),
            ("toodego/elections", metropolis.as_str(), 403),
        ] {
            let r = agent
                .post_form(
                    "/gestion/aide/faq",
                    &[
                        ("csrf_token", &page.csrf()),
                        ("organisation", organisation),
                        ("topic", topic),
                        ("question", "Q"),
                        ("answer", "R"),
                    ],
                )
                .await;
            assert_eq!(
                r.status.as_u16(),
                status,
                "{}: {topic} as {organisation}",
                t.name
            );
        }
        app.stop().await;
    }
}

/// SAU-8: an organisation's figures, computed by hand: three requests to
/// Bron on 15 March 2026 — answered after 2 h and 4 h (resolved after 10 h
/// and 30 h), the third unanswered past its due day. Medians 3 h and 20 h;
/// 2 answered on time out of 3 due: 67 %.
#[tokio::test]
async fn the_figures_of_an_organisation_sau_8() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let t0 = time::macros::datetime!(2026-03-15 10:00 UTC).unix_timestamp() * 1000;
        let hour = 3_600_000_i64;
        for (answer, resolved, due) in [
            (Some(2 * hour), Some(10 * hour), "2999-12-31"),
            (Some(4 * hour), Some(30 * hour), "2999-12-31"),
            (None, None, "2020-01-01"),
        ] {
            let c = store::create(db, &request("toodego", "etat-civil", Some("69029")), URL)
                .await
                .unwrap();
            sqlx::query(
                "UPDATE help_requests SET created_at = $1, first_answer_at = $2, resolved_at = $3, first_answer_due = $4 WHERE id = $5",
            )
            .bind(t0)
            .bind(answer.map(|a| t0 + a))
            .bind(resolved.map(|r| t0 + r))
            .bind(due)
            .bind(c.id)
            .execute(t.db.pool())
            .await
            .unwrap();
        }
        let bron = org(&t, Some("69029")).await;
        let f = store::figures(db, bron, kernel::clock::now_ms())
            .await
            .unwrap();
        assert_eq!(f.by_month, vec![("2026-03".to_string(), 3)], "{}", t.name);
        assert_eq!(
            f.by_category,
            vec![("toodego".into(), "etat-civil".into(), 3)]
        );
        assert_eq!(f.median_first_answer_hours, Some(3.0));
        assert_eq!(f.median_resolution_hours, Some(20.0));
        assert!((f.within_deadline.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // The page, for the metropolis's administrator: table and chart.
        let admin = app.browser();
        admin
            .login("admin@metropole.demo", server::demo::DEMO_PASSWORD)
            .await;
        let page = admin
            .get(&format!("/gestion/aide/chiffres?organisation={bron}"))
            .await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(
            page.body.contains("3.0 h")
                && page.body.contains("20.0 h")
                && page.body.contains("67 %")
        );
        assert!(
            page.body.contains("<svg role=\"img\"")
                && page.body.contains("<td>2026-03</td><td>3</td>")
        );
        app.stop().await;
    }
}

/// ID-8 with SAU: the export lists a person's help requests (never the
/// internal notes); deleting the account keeps them, pseudonymised.
#[tokio::test]
async fn help_requests_in_the_export_and_after_deletion_id_8() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let account = identity::store::create_inhabitant(
            db,
            &identity::domain::EmailAddress::parse("depart@example.fr").unwrap(),
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            true,
            &[],
        )
        .await
        .unwrap()
        .unwrap();
        let mut r = request("toodego", "voirie", None);
        r.account_id = Some(account);
        r.email = "depart@example.fr";
        let c = store::create(db, &r, URL).await.unwrap();
        store::agent_message(db, c.id, 1, "NOTE-PRIVEE", true, URL)
            .await
            .unwrap();
        let export = identity::store::rights::export(db, account).await.unwrap();
        let requests = export["help_requests"]
            .as_array()
            .expect("help requests exported");
        assert_eq!(requests.len(), 1, "{}", t.name);
        assert_eq!(requests[0]["reference"], c.reference.as_str());
        assert!(
            !export.to_string().contains("NOTE-PRIVEE"),
            "{}: no internal note",
            t.name
        );
        identity::store::rights::delete_account(
            db,
            account,
            kernel::audit::Actor::Account(account),
            "test",
        )
        .await
        .unwrap();
        let row = sqlx::query(
            "SELECT requester_email, requester_account_id FROM help_requests WHERE id = $1",
        )
        .bind(c.id)
        .fetch_one(t.db.pool())
        .await
        .unwrap();
        assert_eq!(
            row.get::<String, _>("requester_email"),
            format!("supprime-{account}@compte-supprime.invalid")
        );
        assert_eq!(
            row.get::<Option<i64>, _>("requester_account_id"),
            None,
            "{}",
            t.name
        );
        // The organisation keeps the request and its thread.
        assert_eq!(
            store::thread(db, c.id, Reader::Agent).await.unwrap().len(),
            2
        );
        app.stop().await;
    }
}

/// The tracking link on a "request recorded" page, and its reference.
fn tracking_link_in(body: &str) -> (String, String) {
    let start = body.find("/aide/suivi/").expect("a tracking link");
    let end = body[start..].find('"').unwrap() + start;
    let link = body[start..end].replace("&amp;", "&");
    let reference = link
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    (link, reference)
}

fn file(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_string())
}

fn help_fields(token: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf_token", token.to_string())
        .text("topic", "toodego/etat-civil")
        .text("subject", "Acte de naissance illisible")
        .text("message", "Voici le scan reçu et ma pièce d'identité.")
        .text("email", "habitante@example.fr")
        .text("commune", "69266")
}

/// SAU-1, SAU-4: files are checked from their bytes (name and browser's
/// type ignored), refused ones named with the rest of the form kept and
/// nothing stored; accepted ones are kept with the message and downloaded
/// only by the requester (with the secret) and the competent agents.
#[tokio::test]
async fn attachments_are_checked_from_their_bytes_sau_1_sau_4() {
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0".to_vec();
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let token = b.get("/aide").await.csrf();
        let action = format!("/aide?csrf_token={token}");
        // An executable named .pdf is refused; the texts come back.
        let refused = b
            .post_multipart(
                &action,
                help_fields(&token)
                    .part("pieces", file("scan.pdf", pdf.clone()))
                    .part("pieces", file("facture.pdf", exe.clone())),
            )
            .await;
        assert_eq!(refused.status, 422, "{}: {}", t.name, refused.body);
        assert!(
            refused
                .body
                .contains("facture.pdf : Ce type de fichier n&#39;est pas accepté"),
            "{}",
            t.name
        );
        assert!(
            refused
                .body
                .contains("value=\"Acte de naissance illisible\"")
        );
        assert!(refused.body.contains("ma pièce d&#39;identité.</textarea>"));
        assert!(refused.body.contains("à joindre de nouveau : scan.pdf"));
        // Too many, too large, empty: each named.
        let mut six = help_fields(&token);
        for i in 0..6 {
            six = six.part("pieces", file(&format!("p{i}.png"), png.clone()));
        }
        let page = b.post_multipart(&action, six).await;
        assert_eq!(page.status, 422, "{}", t.name);
        assert!(
            page.body
                .contains("p5.png : 5 fichiers au plus par message.")
        );
        assert!(!page.body.contains("p4.png : "));
        let mut big = b"%PDF-1.7\n".to_vec();
        big.resize(10 * 1024 * 1024 + 1, b' ');
        let page = b
            .post_multipart(
                &action,
                help_fields(&token)
                    .part("pieces", file("gros.pdf", big))
                    .part("pieces", file("vide.txt", vec![])),
            )
            .await;
        assert_eq!(page.status, 422, "{}", t.name);
        assert!(page.body.contains("gros.pdf : Le fichier dépasse 10 Mo."));
        assert!(page.body.contains("vide.txt : Le fichier est vide."));
        assert_eq!(stored(&t).await, 2, "{}: nothing stored", t.name);
        // Accepted: a PDF, a PNG named .jpg (the bytes decide), a text.
        let created = b
            .post_multipart(
                &action,
                help_fields(&token)
                    .part("pieces", file("C:\\Users\\moi\\scan.pdf", pdf.clone()))
                    .part("pieces", file("photo.jpg", png.clone()))
                    .part(
                        "pieces",
                        file("notes.txt", "Numéro : 42".as_bytes().to_vec()),
                    ),
            )
            .await;
        assert_eq!(created.status, 201, "{}: {}", t.name, created.body);
        let (link, reference) = tracking_link_in(&created.body);
        let secret = link.split("jeton=").nth(1).unwrap().to_string();
        let kinds: Vec<(String, String, i64)> = sqlx::query(
            "SELECT file_name, kind, size FROM help_attachments a JOIN help_requests r ON r.id = a.request_id \
             WHERE r.reference = $1 ORDER BY a.id",
        )
        .bind(&reference)
        .fetch_all(t.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("file_name"), r.get("kind"), r.get("size")))
        .collect();
        assert_eq!(
            kinds,
            vec![
                ("scan.pdf".to_string(), "pdf".to_string(), pdf.len() as i64),
                ("photo.jpg".to_string(), "png".to_string(), png.len() as i64),
                ("notes.txt".to_string(), "text".to_string(), 12),
            ],
            "{}",
            t.name
        );
        // The requester's page lists them; a download is the same bytes,
        // as an attachment of the checked type, sandboxed.
        let tracking = b.get(&link).await;
        assert!(
            tracking.body.contains(">scan.pdf</a> (1 Ko)"),
            "{}",
            tracking.body
        );
        let first = tracking.body.find("/pieces/").unwrap();
        let href_end = tracking.body[first..].find('"').unwrap() + first;
        let href = format!(
            "/aide/suivi/{reference}{}",
            tracking.body[first..href_end]
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        );
        let r = b
            .client
            .get(format!("{}{href}", b.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}: {href}", t.name);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert_eq!(
            r.headers()["content-disposition"],
            "attachment; filename=\"scan.pdf\"; filename*=UTF-8''scan.pdf"
        );
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
        // Without the secret: nothing.
        let bare = href.split('?').next().unwrap();
        assert_eq!(app.browser().get(bare).await.status, 404, "{}", t.name);
        // The requester adds a file to a reply; a refused one keeps the text.
        let reply_action = format!("/aide/suivi/{reference}?csrf_token={token}");
        let page = b
            .post_multipart(
                &reply_action,
                reqwest::multipart::Form::new()
                    .text("csrf_token", token.clone())
                    .text("jeton", secret.clone())
                    .text("message", "Et le justificatif.")
                    .part("pieces", file("justif.pdf", exe.clone())),
            )
            .await;
        assert_eq!(page.status, 422, "{}", t.name);
        assert!(page.body.contains("justif.pdf : Ce type de fichier"));
        assert!(page.body.contains(">Et le justificatif.</textarea>"));
        let page = b
            .post_multipart(
                &reply_action,
                reqwest::multipart::Form::new()
                    .text("csrf_token", token.clone())
                    .text("jeton", secret.clone())
                    .text("message", "")
                    .part("pieces", file("justif.pdf", pdf.clone())),
            )
            .await;
        assert_eq!(page.status, 303, "{}: {}", t.name, page.body);
        assert!(
            b.get(page.location())
                .await
                .body
                .contains(">justif.pdf</a>")
        );
        // Villeurbanne's agent sees and downloads them.
        let agent = app.browser();
        agent
            .login("assistance@villeurbanne.demo", server::demo::DEMO_PASSWORD)
            .await;
        let staff_page = agent.get(&format!("/gestion/aide/{reference}")).await;
        assert_eq!(staff_page.status, 200, "{}", t.name);
        assert!(staff_page.body.contains(">justif.pdf</a>"));
        let id: i64 = sqlx::query("SELECT MAX(id) AS id FROM help_attachments")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("id");
        let r = agent
            .get(&format!("/gestion/aide/{reference}/pieces/{id}"))
            .await;
        assert_eq!(r.status, 200, "{}", t.name);
        // A file of another request, through this one: nothing.
        let other = sqlx::query(
            "SELECT reference FROM help_requests WHERE reference <> $1 ORDER BY id LIMIT 1",
        )
        .bind(&reference)
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get::<String, _>("reference");
        assert_eq!(
            agent
                .get(&format!("/gestion/aide/{other}/pieces/{id}"))
                .await
                .status,
            404,
            "{}",
            t.name
        );
        app.stop().await;
    }
}

pub(crate) async fn api_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let mut r = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = bearer {
        r = r.bearer_auth(token);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// SAU-7 for anonymous callers (the widget, SAU-1): a service's categories,
/// its FAQ, opening a request with an e-mail (JSON or multipart with
/// files), reading it with the tracking secret; every problem named with
/// its field; any origin may call (no cookie is read).
#[tokio::test]
async fn the_public_help_api_sau_7() {
    use reqwest::Method;
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let (status, headers, service) = api_json(
            &app,
            Method::GET,
            "/api/v1/help/services/toodego",
            None,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", t.name);
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(
            service["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["code"] == "etat-civil")
        );
        assert!(
            service["communes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["insee_code"] == "69266" && c["name"] == "Villeurbanne")
        );
        let (status, _, missing) =
            api_json(&app, Method::GET, "/api/v1/help/services/nope", None, None).await;
        assert_eq!(status, 404);
        assert_eq!(missing["error"], "not_found");
        let (status, _, faq) = api_json(
            &app,
            Method::GET,
            "/api/v1/help/faq?service=toodego&q=naissance",
            None,
            None,
        )
        .await;
        assert_eq!(status, 200);
        let entries = faq["entries"].as_array().unwrap();
        assert!(!entries.is_empty(), "{}: {faq}", t.name);
        let id = entries[0]["id"].as_i64().unwrap();
        let r = reqwest::Client::new()
            .post(app.url(&format!("/api/v1/help/faq/{id}/feedback")))
            .form(&[("helpful", "true")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(
            r.headers().get("set-cookie").is_none(),
            "the API sets no cookie"
        );
        let r = reqwest::Client::new()
            .post(app.url(&format!("/api/v1/help/faq/{id}/feedback")))
            .form(&[("helpful", "peut-etre")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "helpful");
        let helpful: i64 = sqlx::query("SELECT helpful FROM faq_entries WHERE id = $1")
            .bind(id)
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("helpful");
        assert_eq!(helpful, 1, "{}", t.name);

        // Problems, each with its field; nothing stored.
        let (status, _, refused) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            None,
            Some(serde_json::json!({
                "service": "toodego", "category": "etat-civil",
                "subject": "", "message": "Bonjour", "email": "nope",
            })),
        )
        .await;
        assert_eq!(status, 422, "{}", t.name);
        let fields: Vec<&str> = refused["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["subject", "email"], "{refused}");
        assert!(
            refused["errors"][1]["message"]
                .as_str()
                .unwrap()
                .starts_with("Adresse e-mail")
        );
        let (status, _, _) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            None,
            Some(serde_json::json!({ "service": 12 })),
        )
        .await;
        assert_eq!(status, 422, "{}: bad JSON", t.name);
        let (status, _, nul) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            None,
            Some(serde_json::json!({
                "service": "toodego", "category": "voirie", "subject": "a\u{0}b",
                "message": "x", "email": "habitant@example.fr",
            })),
        )
        .await;
        assert_eq!(status, 422, "{}: a NUL refused at the edge", t.name);
        assert_eq!(nul["errors"][0]["field"], "subject");
        // A refused file in a multipart body: named, nothing stored.
        let form = |bytes: Vec<u8>| {
            reqwest::multipart::Form::new()
                .text("service", "toodego")
                .text("category", "etat-civil")
                .text("subject", "Acte")
                .text("message", "Ci-joint.")
                .text("email", "habitante@example.fr")
                .text("commune", "69266")
                .text("page", "https://toodego.example/naissance")
                .part("attachments", file("acte.pdf", bytes))
        };
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/help-requests"))
            .header("origin", "https://toodego.example")
            .multipart(form(b"MZ\x90\0".to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "attachments");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("acte.pdf : Ce type de fichier")
        );
        assert_eq!(stored(&t).await, 2, "{}", t.name);
        // From another site, with files: routed to Villeurbanne (joined).
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/help-requests"))
            .header("origin", "https://toodego.example")
            .multipart(form(b"%PDF-1.4\n%%EOF\n".to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", t.name);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let created: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            created["routed_to"],
            serde_json::json!({ "kind": "commune", "insee_code": "69266" })
        );
        let reference = created["reference"].as_str().unwrap();
        let tracking = created["tracking_url"].as_str().unwrap();
        assert!(tracking.starts_with(&format!(
            "{}/aide/suivi/{reference}?jeton=",
            app.state.site.public_url
        )));
        let secret = tracking.split("jeton=").nth(1).unwrap();
        let (status, _, shown) = api_json(
            &app,
            Method::GET,
            &format!("/api/v1/help-requests/{reference}?token={secret}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", t.name);
        assert_eq!(shown["status"], "new");
        assert_eq!(shown["page_url"], "https://toodego.example/naissance");
        assert_eq!(shown["routed_to"]["insee_code"], "69266");
        for path in [
            format!("/api/v1/help-requests/{reference}?token=devine"),
            format!("/api/v1/help-requests/{reference}"),
        ] {
            let (status, _, _) = api_json(&app, Method::GET, &path, None, None).await;
            assert_eq!(status, 404, "{}: {path}", t.name);
        }
        // JSON, anonymous, metropolis competence.
        let (status, _, created) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            None,
            Some(serde_json::json!({
                "service": "toodego", "category": "voirie", "subject": "Nid-de-poule",
                "message": "Rue Paul Verlaine.", "email": "habitant@example.fr", "commune": "69266",
            })),
        )
        .await;
        assert_eq!(status, 201, "{}", t.name);
        assert_eq!(
            created["routed_to"],
            serde_json::json!({ "kind": "metropolis" })
        );
        // A `sub` without a service's token is refused.
        let (status, _, _) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            None,
            Some(serde_json::json!({
                "service": "toodego", "category": "voirie", "subject": "x", "message": "y",
                "sub": "abc",
            })),
        )
        .await;
        assert_eq!(status, 403, "{}", t.name);
        // The spec documents every call.
        let (status, _, spec) =
            api_json(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        for path in [
            "/api/v1/help-requests",
            "/api/v1/help-requests/{reference}",
            "/api/v1/help/faq",
            "/api/v1/help/faq/{id}/feedback",
            "/api/v1/help/services/{code}",
        ] {
            assert!(spec["paths"].get(path).is_some(), "{path} in the spec");
        }
        assert_eq!(
            spec["components"]["securitySchemes"]["service_token"]["scheme"],
            "bearer"
        );
        app.stop().await;
    }
}

/// SAU-7 for services: a `client_credentials` token of the service's client
/// opens a request for a person named by their `sub` (e-mail from their
/// account) and reads its service's requests, no other; status changes
/// reach the service's webhook, HMAC-SHA256 signed, retried with back-off.
#[tokio::test]
async fn services_open_requests_for_people_and_get_webhooks_sau_7() {
    use reqwest::Method;
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let (hook_url, received) = webhook_receiver().await;
        let new = identity::oidc::clients::NewClient {
            name: "Toodego".into(),
            redirect_uris: vec!["http://localhost:4000/cb".into()],
            scopes: vec!["openid".into(), "email".into()],
            ..Default::default()
        };
        let (client, secret) =
            identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
                .await
                .unwrap()
                .unwrap();
        let secret = secret.unwrap();
        // The person signs in to the service: the service knows their sub.
        let b = app.browser();
        b.login(crate::support::HELP_AGENT, crate::support::PASSWORD)
            .await;
        let tokens =
            crate::oidc::code_flow(&app, &b, &client, &secret, "http://localhost:4000/cb").await;
        let id_token = identity::oidc::jwt::parse(tokens["id_token"].as_str().unwrap()).unwrap();
        let sub = id_token.claims["sub"].as_str().unwrap().to_string();
        let service_token = |scope: &'static str| {
            let (client, secret) = (client.clone(), secret.clone());
            let app = &app;
            async move {
                let mut fields = vec![("grant_type", "client_credentials")];
                if !scope.is_empty() {
                    fields.push(("scope", scope));
                }
                let (status, body) =
                    crate::oidc::token_request(app, &fields, Some((&client, &secret))).await;
                assert_eq!(status, 200, "{body}");
                body["access_token"].as_str().unwrap().to_string()
            }
        };
        let token = service_token("").await;
        let body = serde_json::json!({
            "service": "toodego", "category": "voirie", "subject": "Trottoir",
            "message": "Dalle descellée.", "sub": sub,
        });
        // Not linked to a service yet: refused.
        let (status, _, refused) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 403, "{}: {refused}", t.name);
        store::set_service_link(
            &t.db,
            "toodego",
            Some(&client),
            Some(&hook_url),
            Some("secret-du-webhook"),
            kernel::audit::Actor::Cli,
        )
        .await
        .unwrap();
        let (status, _, created) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 201, "{}: {created}", t.name);
        let reference = created["reference"].as_str().unwrap().to_string();
        let row = sqlx::query(
            "SELECT r.requester_email, r.requester_account_id, a.email FROM help_requests r \
             JOIN accounts a ON a.id = r.requester_account_id WHERE r.reference = $1",
        )
        .bind(&reference)
        .fetch_one(t.db.pool())
        .await
        .unwrap();
        assert_eq!(
            row.get::<String, _>("requester_email"),
            crate::support::HELP_AGENT,
            "{}: the person's e-mail",
            t.name
        );
        // For another service, an unknown sub, a forged token: refused.
        let mut other = body.clone();
        other["service"] = "laclasse.com".into();
        other["category"] = "college".into();
        let (status, _, _) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            Some(&token),
            Some(other),
        )
        .await;
        assert_eq!(status, 403, "{}", t.name);
        let mut unknown = body.clone();
        unknown["sub"] = "0000000000000000000000000000000000000000".into();
        let (status, _, problem) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            Some(&token),
            Some(unknown),
        )
        .await;
        assert_eq!(status, 422, "{}", t.name);
        assert_eq!(problem["errors"][0]["field"], "sub");
        let (status, headers, _) = api_json(
            &app,
            Method::POST,
            "/api/v1/help-requests",
            Some("forged.token.x"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 401, "{}", t.name);
        assert!(headers.contains_key("www-authenticate"));
        // The service reads its requests, not another service's.
        let (status, _, shown) = api_json(
            &app,
            Method::GET,
            &format!("/api/v1/help-requests/{reference}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", t.name);
        assert_eq!(shown["status"], "new");
        let laclasse: String = sqlx::query(
            "SELECT r.reference FROM help_requests r JOIN services s ON s.id = r.service_id WHERE s.code <> 'toodego' LIMIT 1",
        )
        .fetch_optional(t.db.pool())
        .await
        .unwrap()
        .map(|r| r.get("reference"))
        .unwrap_or_else(|| "SAU-2026-999999".into());
        let (status, _, _) = api_json(
            &app,
            Method::GET,
            &format!("/api/v1/help-requests/{laclasse}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, 404, "{}", t.name);

        // A status change: the webhook is queued with the change, signed.
        let request = store::for_scope(&t.db, &Scope::All, &reference)
            .await
            .unwrap()
            .unwrap();
        store::set_status(&t.db, request.id, Status::InProgress, URL)
            .await
            .unwrap();
        let deliverer = kernel::outbox::Deliverer::new(
            t.db.clone(),
            kernel::mail::MailConfig::new(None, "a@b.fr", tempfile::tempdir().unwrap().path())
                .unwrap(),
        );
        deliverer.run_once(50).await.unwrap();
        let calls = received.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "{}: one call", t.name);
        let (headers, body) = &calls[0];
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["event"], "help_request.status_changed");
        assert_eq!(event["reference"], reference.as_str());
        assert_eq!(event["status"], "in_progress");
        assert_eq!(event["previous_status"], "new");
        let timestamp = &headers["x-mutualis-timestamp"];
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret-du-webhook");
        let expected = format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes()).as_ref())
        );
        assert_eq!(headers["x-mutualis-signature"], expected, "{}", t.name);
        // The service's endpoint fails: the call stays queued, retried later.
        FAIL_HOOK.store(true, std::sync::atomic::Ordering::SeqCst);
        store::set_status(&t.db, request.id, Status::WaitingForUser, URL)
            .await
            .unwrap();
        deliverer.run_once(50).await.unwrap();
        let (attempts, pending, later): (i64, String, i64) = {
            let r = sqlx::query(
                "SELECT attempts, status, next_attempt_at FROM outbox WHERE idempotency_key LIKE 'help-webhook:%' \
                 AND payload LIKE '%waiting_for_user%'",
            )
            .fetch_one(t.db.pool())
            .await
            .unwrap();
            (r.get("attempts"), r.get("status"), r.get("next_attempt_at"))
        };
        assert_eq!((attempts, pending.as_str()), (1, "pending"), "{}", t.name);
        assert!(later > kernel::clock::now_ms(), "{}: retried later", t.name);
        FAIL_HOOK.store(false, std::sync::atomic::Ordering::SeqCst);
        app.stop().await;
    }
}

static FAIL_HOOK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

type Calls =
    std::sync::Arc<std::sync::Mutex<Vec<(std::collections::HashMap<String, String>, String)>>>;

/// A service's webhook endpoint: records each call (headers and body);
/// answers 500 while `FAIL_HOOK` is set.
async fn webhook_receiver() -> (String, Calls) {
    let got: Calls = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                if FAIL_HOOK.load(std::sync::atomic::Ordering::SeqCst) {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                keep.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// SAU-7: the metropolis's administrators link a service to its client and
/// webhook; the signing secret is shown once; others read only.
#[tokio::test]
async fn services_are_linked_by_the_metropolis_sau_7() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let new = identity::oidc::clients::NewClient {
            name: "Toodego".into(),
            redirect_uris: vec!["https://toodego.example/cb".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        };
        let (client, _) = identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
            .await
            .unwrap()
            .unwrap();
        let admin = app.browser();
        admin
            .login("admin@metropole.demo", server::demo::DEMO_PASSWORD)
            .await;
        let page = admin.get("/gestion/aide/services").await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(page.body.contains(&format!("value=\"{client}\"")));
        let bad = admin
            .post_form(
                "/gestion/aide/services",
                &[
                    ("csrf_token", &page.csrf()),
                    ("service", "toodego"),
                    ("client_id", &client),
                    ("webhook_url", "ftp://toodego.example/hook"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", t.name);
        assert!(bad.body.contains("Adresse du webhook : une adresse https"));
        let saved = admin
            .post_form(
                "/gestion/aide/services",
                &[
                    ("csrf_token", &page.csrf()),
                    ("service", "toodego"),
                    ("client_id", &client),
                    ("webhook_url", "https://toodego.example/hook"),
                ],
            )
            .await;
        assert_eq!(saved.status, 200, "{}: {}", t.name, saved.body);
        let marker = "<code class=\"secret\">";
        let start = saved.body.find(marker).expect("the secret, once") + marker.len();
        let secret = &saved.body[start..start + 43];
        let stored: String = sqlx::query(
            "SELECT l.webhook_secret FROM help_service_links l JOIN services s ON s.id = l.service_id WHERE s.code = 'toodego'",
        )
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("webhook_secret");
        assert_eq!(stored, secret, "{}", t.name);
        let again = admin.get("/gestion/aide/services").await;
        assert!(!again.body.contains(secret), "{}: shown once", t.name);
        assert!(again.body.contains("https://toodego.example/hook"));
        assert_eq!(
            store::service_of_client(&t.db, &client)
                .await
                .unwrap()
                .as_deref(),
            Some("toodego")
        );
        // Another service cannot take the same client.
        let taken = admin
            .post_form(
                "/gestion/aide/services",
                &[
                    ("csrf_token", &page.csrf()),
                    ("service", "laclasse.com"),
                    ("client_id", &client),
                ],
            )
            .await;
        assert_eq!(taken.status, 422, "{}", t.name);
        assert!(taken.body.contains("déjà celui d&#39;un autre service"));
        // A commune's staff read, and cannot change.
        let agent = app.browser();
        agent
            .login(crate::support::HELP_AGENT, crate::support::PASSWORD)
            .await;
        let read = agent.get("/gestion/aide/services").await;
        assert_eq!(read.status, 200);
        assert!(!read.body.contains("Relier un service"));
        let refused = agent
            .post_form(
                "/gestion/aide/services",
                &[
                    ("csrf_token", &read.csrf()),
                    ("service", "toodego"),
                    ("client_id", ""),
                ],
            )
            .await;
        assert_eq!(refused.status, 403, "{}", t.name);
        app.stop().await;
    }
}

/// SAU-1, SAU-4: requests that arrive together are written by one
/// transaction (store::Creations); each keeps its own routing, message and
/// acknowledgement, and one that cannot be written fails alone.
#[tokio::test]
async fn requests_written_together_stay_whole_and_apart_sau_1_sau_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = app.state.db.clone();
        let creations = store::Creations::start(db.clone());
        // A first request reserves a block of references, so that the next
        // ones need no write to be numbered.
        creations
            .create(&request("toodego", "voirie", None), URL)
            .await
            .unwrap();
        let before = stored(&t).await;
        // Hold the writer (SQLite's write lock; a table lock on PostgreSQL)
        // while the requests arrive: they queue, and are written as groups.
        let mut hold = db.begin().await.unwrap();
        if db.backend() == kernel::Backend::Postgres {
            sqlx::query("LOCK TABLE help_requests IN EXCLUSIVE MODE")
                .execute(&mut *hold)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..41_usize {
            let creations = creations.clone();
            tasks.push(tokio::spawn(async move {
                let (subject, message, email) = (
                    format!("Demande {i}"),
                    format!("Message numéro {i}"),
                    format!("personne{i}@example.fr"),
                );
                let (category, commune) = match i % 3 {
                    0 => ("etat-civil", Some("69266")),
                    1 => ("etat-civil", Some("69123")),
                    _ => ("voirie", None),
                };
                let r = NewRequest {
                    subject: &subject,
                    message: &message,
                    email: &email,
                    // An account that does not exist: this one cannot be written.
                    account_id: (i == 20).then_some(987_654_321),
                    ..request("toodego", category, commune)
                };
                (i, creations.create(&r, URL).await)
            }));
        }
        // Let them reach the queue (if some come later, they form a later
        // group: what is checked below holds either way).
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        hold.rollback().await.unwrap();
        let mut created = Vec::new();
        for task in tasks {
            let (i, result) = task.await.unwrap();
            if i == 20 {
                assert!(result.is_err(), "{}: the unknown account fails", t.name);
            } else {
                created.push((i, result.unwrap()));
            }
        }
        assert_eq!(stored(&t).await, before + 40, "{}", t.name);
        for (i, c) in &created {
            let row = sqlx::query(
                "SELECT r.reference, r.subject, r.requester_email, r.organisation_id, m.body, \
                 g.organisation_id AS routed_to, g.reason, o.payload \
                 FROM help_requests r JOIN help_messages m ON m.request_id = r.id \
                 JOIN help_routings g ON g.request_id = r.id \
                 JOIN outbox o ON o.idempotency_key = 'help-ack:' || r.reference WHERE r.id = $1",
            )
            .bind(c.id)
            .fetch_all(t.db.pool())
            .await
            .unwrap();
            assert_eq!(row.len(), 1, "{}: one message, routing, e-mail", t.name);
            let row = &row[0];
            assert_eq!(row.get::<String, _>("reference"), c.reference);
            assert_eq!(row.get::<String, _>("subject"), format!("Demande {i}"));
            assert_eq!(row.get::<String, _>("body"), format!("Message numéro {i}"));
            let email = format!("personne{i}@example.fr");
            assert_eq!(row.get::<String, _>("requester_email"), email);
            assert_eq!(row.get::<i64, _>("organisation_id"), c.organisation_id);
            assert_eq!(row.get::<i64, _>("routed_to"), c.organisation_id);
            assert_eq!(row.get::<String, _>("reason"), c.decision.reason.code());
            let payload: String = row.get("payload");
            assert!(payload.contains(&email), "{payload}");
            assert!(payload.contains(&store::tracking_link(URL, &c.reference, &c.tracking_token)));
        }
        // Villeurbanne joined Toodego in the demo, Lyon did not.
        let villeurbanne = org(&t, Some("69266")).await;
        assert!(
            created
                .iter()
                .all(|(i, c)| (i % 3 == 0) == (c.organisation_id == villeurbanne))
        );
        app.stop().await;
    }
}

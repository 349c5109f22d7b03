//! A node on a free port over a fresh database, and a browser-like client.

use kernel::AppState;
use kernel::mail::MailConfig;
use kernel::password::Hasher;
use kernel::testing::TestDb;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use server::app::{Node, NodeConfig};

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    node: Option<Node>,
    _mail_dir: tempfile::TempDir,
}

impl TestApp {
    /// A node with the demo data seeded.
    pub async fn spawn(t: &TestDb) -> TestApp {
        Self::spawn_with_url(t, None).await
    }

    /// `public_url`: what the node believes its public address is (e.g. an
    /// https address behind a proxy).
    /// A node that delivers its e-mails to a real SMTP server (job runner on).
    pub async fn spawn_with_smtp(t: &TestDb, smtp: &kernel::testing::SmtpServer) -> TestApp {
        Self::start(t, None, Some(smtp.url()), None).await
    }

    pub async fn spawn_with_url(t: &TestDb, public_url: Option<&str>) -> TestApp {
        Self::start(t, public_url, None, None).await
    }

    /// A node registered with a FranceConnect at `issuer` (ID-5).
    pub async fn spawn_with_franceconnect(t: &TestDb, issuer: &str) -> TestApp {
        Self::start(t, None, None, Some(issuer)).await
    }

    async fn start(
        t: &TestDb,
        public_url: Option<&str>,
        smtp_url: Option<String>,
        franceconnect: Option<&str>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let state = AppState {
            db: t.db.clone(),
            site: server::app::site(public_url.unwrap_or(&base)),
            hasher: Hasher::per_core(),
            master_key: kernel::secrets::MasterKey::random(),
            extensions: Default::default(),
        };
        let mut state = server::app::compose(state).await.unwrap();
        if let Some(issuer) = franceconnect {
            let config = identity::franceconnect::Config {
                issuer: issuer.to_string(),
                client_id: "mutualis".into(),
                client_secret: "secret".into(),
                redirect_uri: format!("{base}/franceconnect/retour"),
                post_logout_redirect_uri: format!("{base}/franceconnect/deconnexion"),
                scopes: identity::franceconnect::DEFAULT_SCOPES.into(),
                environment: identity::franceconnect::Environment::Integration,
            };
            std::sync::Arc::make_mut(&mut state.extensions)
                .insert(identity::franceconnect::FranceConnect::new(config));
        }
        server::demo::seed(&state).await.unwrap();
        let mail_dir = tempfile::tempdir().unwrap();
        // With an SMTP server the job runner delivers the outbox to it.
        let jobs = smtp_url.is_some();
        let mail = MailConfig::new(
            smtp_url.as_deref(),
            "Mutualis <a@mutualis.test>",
            mail_dir.path(),
        )
        .unwrap();
        let node = Node::start(
            listener,
            NodeConfig {
                state: state.clone(),
                mail,
                jobs,
            },
        )
        .await
        .unwrap();
        TestApp {
            base,
            state,
            node: Some(node),
            _mail_dir: mail_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client with its own cookie jar that does not follow redirects.
    pub fn browser(&self) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            base: self.base.clone(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(node) = self.node.take() {
            node.stop().await.unwrap();
        }
    }
}

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    /// Submits a form like a browser on this site would (same origin).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_form_with(path, fields, &[("origin", &self.base.clone())])
            .await
    }

    pub async fn post_form_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut request = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let r = request.send().await.unwrap();
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    /// Sends a multipart form (files) like a browser on this site would.
    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Page {
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("origin", self.base.clone())
            .multipart(form)
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    /// Signs in through the form (panics unless it succeeds); a demo staff
    /// account also passes its second factor (ID-7).
    pub async fn login(&self, email: &str, password: &str) {
        self.sign_in(email, password).await;
        self.pass_second_factor(server::demo::DEMO_TOTP_SECRET)
            .await;
    }

    /// Password step only.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let form = self.get("/connexion").await;
        let token = form.csrf();
        let page = self
            .post_form(
                "/connexion",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", password),
                    ("retour", "/gestion"),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "login of {email} failed: {}",
            page.body
        );
    }

    /// ID-7: a staff session confirms its second factor with the TOTP key
    /// `secret` at the first back-office page (enrolling if needed; the page
    /// then lists the recovery codes, returned); inhabitants have nothing to do.
    pub async fn pass_second_factor(&self, secret: &[u8]) -> Vec<String> {
        let gate = self.get("/gestion").await;
        if !(gate.status == StatusCode::SEE_OTHER && gate.location().starts_with("/gestion/2fa")) {
            return vec![];
        }
        let form = self.get(gate.location()).await;
        let token = form.csrf();
        let now = kernel::clock::now_ms() / 1000;
        // A code serves once: a second sign-in within the same 30 s uses the
        // next step's code, which the ±1 step window accepts.
        for (attempt, step) in [now / 30, now / 30 + 1].into_iter().enumerate() {
            if attempt > 0 {
                // The refused code started the one-second back-off (ID-1).
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            }
            let code = format!("{:06}", identity::domain::totp::code(secret, step));
            let page = self
                .post_form(
                    "/gestion/2fa",
                    &[
                        ("csrf_token", &token),
                        ("code", &code),
                        ("retour", "/gestion"),
                    ],
                )
                .await;
            if page.status == StatusCode::SEE_OTHER || page.status == StatusCode::OK {
                return recovery_codes(&page.body);
            }
        }
        panic!("the second factor was refused");
    }
}

pub const PASSWORD: &str = server::demo::DEMO_PASSWORD;
pub const METROPOLIS_ADMIN: &str = "admin@metropole.demo";
pub const COMMUNE_ADMIN: &str = "admin@villeurbanne.demo";
pub const HELP_AGENT: &str = "assistance@villeurbanne.demo";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mutualis")
}

/// The TOTP key an enrolment page shows for typing by hand.
pub fn manual_key(body: &str) -> Vec<u8> {
    let start = body
        .find("<code class=\"key\">")
        .expect("no manual key on the page")
        + 18;
    let key = &body[start..start + body[start..].find("</code>").unwrap()];
    identity::domain::totp::from_base32(&key.replace(' ', "")).expect("the key is base32")
}

/// The recovery codes listed once after enrolment.
pub fn recovery_codes(body: &str) -> Vec<String> {
    let Some(list) = body.find("<ul class=\"codes\">") else {
        return vec![];
    };
    let list = &body[list..list + body[list..].find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].to_string())
        .collect()
}

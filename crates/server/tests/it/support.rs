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
        Self::start(t, None, Some(smtp.url())).await
    }

    pub async fn spawn_with_url(t: &TestDb, public_url: Option<&str>) -> TestApp {
        Self::start(t, public_url, None).await
    }

    async fn start(t: &TestDb, public_url: Option<&str>, smtp_url: Option<String>) -> TestApp {
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
        let state = server::app::compose(state).await.unwrap();
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

    /// Logs in through the form; panics unless it succeeds.
    pub async fn login(&self, email: &str, password: &str) {
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
}

pub const PASSWORD: &str = server::demo::DEMO_PASSWORD;
pub const METROPOLIS_ADMIN: &str = "admin@metropole.demo";
pub const COMMUNE_ADMIN: &str = "admin@villeurbanne.demo";
pub const HELP_AGENT: &str = "assistance@villeurbanne.demo";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mutualis")
}

//! Login-flow driver of bench/oidc. One flow = a fresh browser session (its
//! own cookie jar) doing authorize -> login form -> password login -> (consent
//! already given) -> code -> token -> userinfo, following the redirects by
//! hand. Connections are pooled across flows (keep-alive), cookies are not.
//!
//! Usage:
//!   flows --kind mutualis|node --base URL --client-id ID --client-secret S
//!         --redirect-uri URI --email E --password P
//!         [--concurrency C] [--seconds S] [--setup]
//! --setup: one flow that also answers the consent form if one is shown
//! (Mutualis), then one flow that must get the code straight after login.
//! Prints one JSON object on stdout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

#[derive(Clone)]
struct Conf {
    kind: String,
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    email: String,
    password: String,
}

struct Flow<'a> {
    http: &'a Client,
    conf: &'a Conf,
    jar: BTreeMap<String, String>,
    statuses: Vec<u16>,
}

fn rand_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(html_unescape(&rest[v..v + end]))
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    if let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                }
                out.push(if b[i] == b'+' { b' ' } else { b[i] });
                i += 1;
            }
            return String::from_utf8(out).ok();
        }
    }
    None
}

struct Resp {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl<'a> Flow<'a> {
    fn abs(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{}", self.conf.base, url)
        }
    }

    async fn send(
        &mut self,
        method: Method,
        url: &str,
        body: Option<String>,
        auth: Option<String>,
    ) -> Result<Resp, String> {
        let url = self.abs(url);
        let mut rb = self.http.request(method.clone(), &url);
        if !self.jar.is_empty() {
            let c = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            rb = rb.header(COOKIE, c);
        }
        // A browser form post carries Origin; a client's back-channel call
        // (token, userinfo: the ones with Authorization) does not.
        let browser = auth.is_none();
        if let Some(a) = auth {
            rb = rb.header(AUTHORIZATION, a);
        }
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(b);
            if browser {
                rb = rb.header(ORIGIN, self.conf.base.clone());
            }
        }
        let r = rb.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = r.status();
        self.statuses.push(status.as_u16());
        for sc in r.headers().get_all(SET_COOKIE) {
            let Ok(sc) = sc.to_str() else { continue };
            let first = sc.split(';').next().unwrap_or("");
            let Some((k, v)) = first.split_once('=') else { continue };
            let lower = sc.to_ascii_lowercase();
            if v.is_empty() || lower.contains("max-age=0") || lower.contains("1970") {
                self.jar.remove(k.trim());
            } else {
                self.jar.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let location = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = r.text().await.map_err(|e| format!("{method} {url}: body: {e}"))?;
        Ok(Resp { status, location, body })
    }

    /// GET `url` and follow redirects until a page (2xx) or a redirect to
    /// the client's redirect_uri (returned as Err(location) == the callback).
    async fn follow(&mut self, mut url: String) -> Result<(String, Resp), String> {
        for _ in 0..8 {
            let r = self.send(Method::GET, &url, None, None).await?;
            if r.status.is_redirection() {
                let loc = r.location.clone().ok_or("redirect without Location")?;
                if loc.starts_with(&self.conf.redirect_uri) {
                    return Ok((loc, r));
                }
                url = self.abs(&loc);
                continue;
            }
            if r.status.is_success() {
                return Ok((url, r));
            }
            return Err(format!("GET {url}: {} {}", r.status, r.body.chars().take(200).collect::<String>()));
        }
        Err("too many redirects".into())
    }

    /// One complete flow; `consent`: answer a consent form if one is shown.
    async fn run(&mut self, consent: bool) -> Result<bool, String> {
        let c = self.conf.clone();
        let verifier = rand_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
        let state = rand_token(12);
        let nonce = rand_token(12);
        let authorize = if c.kind == "node" { "/auth" } else { "/oidc/authorize" };
        let url = format!(
            "{}{}?{}",
            c.base,
            authorize,
            form(&[
                ("response_type", "code"),
                ("client_id", &c.client_id),
                ("redirect_uri", &c.redirect_uri),
                ("scope", "openid profile email"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
        );
        // authorize -> login page
        let (page_url, page) = self.follow(url).await?;
        if page_url.starts_with(&c.redirect_uri) {
            return Err("a code without login: the cookie jar was not fresh".into());
        }
        // password login
        let login = if c.kind == "node" {
            let path = page_url.split('?').next().unwrap().to_string();
            self.send(
                Method::POST,
                &format!("{path}/login"),
                Some(form(&[("email", &c.email), ("password", &c.password)])),
                None,
            )
            .await?
        } else {
            let csrf = hidden(&page.body, "csrf_token").ok_or("no csrf_token on the login page")?;
            let retour = hidden(&page.body, "retour").ok_or("no retour on the login page")?;
            self.send(
                Method::POST,
                "/connexion",
                Some(form(&[("csrf_token", &csrf), ("email", &c.email), ("password", &c.password), ("retour", &retour)])),
                None,
            )
            .await?
        };
        if !login.status.is_redirection() {
            return Err(format!("login: {} {}", login.status, login.body.chars().take(300).collect::<String>()));
        }
        let next = login.location.clone().ok_or("login: no Location")?;
        let mut consented = false;
        let (mut cb, mut r) = self.follow(self.abs(&next)).await?;
        if !cb.starts_with(&c.redirect_uri) {
            if !consent {
                return Err(format!("no code after login (consent asked?): {}", r.body.chars().take(300).collect::<String>()));
            }
            let csrf = hidden(&r.body, "csrf_token").ok_or("no csrf_token on the consent page")?;
            let request = hidden(&r.body, "request").ok_or("no request on the consent page")?;
            let mut fields: Vec<(&str, String)> = vec![("csrf_token", csrf), ("request", request)];
            let mut body = r.body.as_str();
            let mut claims = Vec::new();
            while let Some(at) = body.find("name=\"claims\" value=\"") {
                let rest = &body[at + 21..];
                let end = rest.find('"').unwrap();
                claims.push(rest[..end].to_string());
                body = &rest[end..];
            }
            for cl in claims {
                fields.push(("claims", cl));
            }
            fields.push(("decision", "allow".into()));
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            r = self.send(Method::POST, "/oidc/consent", Some(form(&f)), None).await?;
            let loc = r.location.clone().ok_or_else(|| format!("consent: {} {}", r.status, r.body.chars().take(300).collect::<String>()))?;
            cb = loc;
            consented = true;
            if !cb.starts_with(&c.redirect_uri) {
                let (u, rr) = self.follow(self.abs(&cb)).await?;
                cb = u;
                r = rr;
            }
        }
        let _ = r;
        if query_param(&cb, "state").as_deref() != Some(state.as_str()) {
            return Err(format!("callback without our state: {cb}"));
        }
        let code = query_param(&cb, "code").ok_or_else(|| format!("callback without code: {cb}"))?;
        // token
        let token_path = if c.kind == "node" { "/token" } else { "/oidc/token" };
        let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&c.client_id), enc(&c.client_secret))));
        let t = self
            .send(
                Method::POST,
                token_path,
                Some(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &c.redirect_uri),
                    ("code_verifier", &verifier),
                ])),
                Some(basic),
            )
            .await?;
        if t.status != StatusCode::OK {
            return Err(format!("token: {} {}", t.status, t.body));
        }
        let tj: serde_json::Value = serde_json::from_str(&t.body).map_err(|e| format!("token JSON: {e}"))?;
        let at = tj["access_token"].as_str().ok_or("no access_token")?.to_string();
        if tj["id_token"].as_str().is_none() {
            return Err("no id_token".into());
        }
        // userinfo
        let ui = if c.kind == "node" { "/me" } else { "/oidc/userinfo" };
        let u = self.send(Method::GET, ui, None, Some(format!("Bearer {at}"))).await?;
        if u.status != StatusCode::OK {
            return Err(format!("userinfo: {} {}", u.status, u.body));
        }
        let uj: serde_json::Value = serde_json::from_str(&u.body).map_err(|e| format!("userinfo JSON: {e}"))?;
        if uj["sub"].as_str().is_none() || uj["email"].as_str() != Some(c.email.as_str()) {
            return Err(format!("userinfo without sub/email: {}", u.body));
        }
        Ok(consented)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| -> Option<String> {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
    };
    let need = |name: &str| get(name).unwrap_or_else(|| panic!("{name} is required"));
    let conf = Conf {
        kind: need("--kind"),
        base: need("--base").trim_end_matches('/').to_string(),
        client_id: need("--client-id"),
        client_secret: need("--client-secret"),
        redirect_uri: need("--redirect-uri"),
        email: need("--email"),
        password: need("--password"),
    };
    let concurrency: usize = get("--concurrency").map(|v| v.parse().unwrap()).unwrap_or(8);
    let seconds: f64 = get("--seconds").map(|v| v.parse().unwrap()).unwrap_or(10.0);
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    if args.iter().any(|a| a == "--setup") {
        let mut f = Flow { http: &http, conf: &conf, jar: BTreeMap::new(), statuses: vec![] };
        let first = f.run(true).await;
        let mut g = Flow { http: &http, conf: &conf, jar: BTreeMap::new(), statuses: vec![] };
        let second = g.run(false).await;
        let ok = first.is_ok() && second.is_ok();
        println!(
            "{}",
            json!({
                "ok": ok,
                "first": match &first { Ok(c) => json!({"consent_given": c, "statuses": f.statuses}), Err(e) => json!({"error": e}) },
                "second": match &second { Ok(c) => json!({"consent_asked": c, "statuses": g.statuses}), Err(e) => json!({"error": e}) },
            })
        );
        std::process::exit(if ok { 0 } else { 1 });
    }

    let conf = Arc::new(conf);
    let http = Arc::new(http);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (conf, http, stop) = (conf.clone(), http.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut requests = 0u64;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut f = Flow { http: &http, conf: &conf, jar: BTreeMap::new(), statuses: vec![] };
                let r = f.run(false).await;
                requests += f.statuses.len() as u64;
                for s in &f.statuses {
                    *statuses.entry(*s).or_default() += 1;
                }
                match r {
                    Ok(_) => {
                        // Only flows finished before the deadline count.
                        if Instant::now() <= deadline {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    Err(e) => {
                        errors.push(e);
                        if errors.len() > 20 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (lat, errors, statuses, requests)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut requests = 0;
    for t in tasks {
        let (l, e, s, r) = t.await.unwrap();
        lat.extend(l);
        errors.extend(e);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        requests += r;
    }
    let elapsed = seconds.min(start.elapsed().as_secs_f64());
    let n = lat.len();
    println!(
        "{}",
        json!({
            "flows": n,
            "seconds": elapsed,
            "flows_per_s": n as f64 / elapsed,
            "latency_ms_median": median(lat.clone()),
            "latency_ms_p90": pct(lat, 0.9),
            "errors": errors.len(),
            "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
            "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "requests": requests,
            "concurrency": concurrency,
        })
    );
}

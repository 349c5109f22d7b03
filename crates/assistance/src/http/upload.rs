//! SAU-1, SAU-4: reading a help form, plain (`application/x-www-form-urlencoded`)
//! or with files (`multipart/form-data`): the help page, the tracking page
//! and the service API all read their input here, so a file is checked the
//! same way wherever it comes from.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::{Form, RequestExt};
use kernel::web::Msg;
use kernel::web::csrf::has_control;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::domain::attachment::{self, Accepted, MAX_BYTES, MAX_FILES, Refused};

/// The largest request body of a form with files: five files at their
/// largest and the texts.
pub const BODY_LIMIT: usize = MAX_FILES * MAX_BYTES + 1024 * 1024;

/// A text field's largest size (a 10,000-character message is at most
/// 40,000 bytes).
const FIELD_BYTES: usize = 64 * 1024;

/// What a form brought.
#[derive(Default)]
pub struct Submitted {
    pub fields: Vec<(String, String)>,
    pub files: Vec<Accepted>,
    /// Files refused, by the name they were sent under.
    pub refused: Vec<(String, Refused)>,
}

impl Submitted {
    /// The text fields as a form struct.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let encoded = serde_urlencoded::to_string(&self.fields).map_err(|_| malformed())?;
        serde_urlencoded::from_str(&encoded).map_err(|_| malformed())
    }

    /// One message per refused file, naming it.
    pub fn refusals(&self) -> Vec<Msg> {
        self.refused
            .iter()
            .map(|(name, why)| {
                Msg::new(
                    format!("{name} : {}", why.message_fr()),
                    format!("{name}: {}", why.message_en()),
                )
            })
            .collect()
    }
}

fn malformed() -> Error {
    Error::Invalid(Msg::new(
        "Le formulaire envoyé est illisible : rechargez la page et recommencez.",
        "The form sent cannot be read: reload the page and try again.",
    ))
}

fn control_characters() -> Error {
    Error::Invalid(Msg::new(
        "Le formulaire contient des caractères invisibles non autorisés : retapez le texte au lieu de le coller, puis recommencez.",
        "The form holds invisible characters that are not allowed: type the text instead of pasting it, then try again.",
    ))
}

fn too_large() -> Error {
    Error::Invalid(Msg::new(
        "L'envoi est trop volumineux : 5 fichiers de 10 Mo au plus.",
        "The upload is too large: at most 5 files of 10 MB.",
    ))
}

/// Reads the form; files are checked one by one (size, type from the bytes,
/// count) and a refused file does not stop the others from being read, so
/// the page can name every problem at once.
pub async fn read(request: Request) -> Result<Submitted, Error> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let Form(fields) = request
            .extract::<Form<Vec<(String, String)>>, _>()
            .await
            .map_err(|_| malformed())?;
        return Ok(Submitted {
            fields,
            ..Submitted::default()
        });
    }
    if !content_type.starts_with("multipart/form-data") {
        return Err(malformed());
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| malformed())?;
    let mut out = Submitted::default();
    let fail = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            malformed()
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(fail)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let limit = if file_name.is_some() {
            MAX_BYTES
        } else {
            FIELD_BYTES
        };
        let mut bytes = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.chunk().await.map_err(fail)? {
            if bytes.len() + chunk.len() > limit {
                // The rest of this field is skipped by the next read.
                over = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        match file_name {
            None => {
                if over {
                    return Err(too_large());
                }
                let text = String::from_utf8(bytes).map_err(|_| malformed())?;
                if has_control(&name) || has_control(&text) {
                    return Err(control_characters());
                }
                out.fields.push((name, text));
            }
            // A file input left empty sends an empty part without a name.
            Some(sent) if sent.is_empty() && bytes.is_empty() && !over => {}
            Some(sent) => {
                let shown = attachment::safe_name(&sent);
                let checked = if over {
                    Err(Refused::TooLarge)
                } else if out.files.len() >= MAX_FILES {
                    Err(Refused::TooMany)
                } else {
                    attachment::sniff(&bytes)
                };
                match checked {
                    Ok(kind) => out.files.push(Accepted {
                        file_name: shown,
                        kind,
                        bytes,
                    }),
                    Err(why) => out.refused.push((shown, why)),
                }
            }
        }
    }
    Ok(out)
}

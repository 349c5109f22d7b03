//! CONV-10: the filled-in framework agreement and each amendment, printable
//! and as PDF.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::web::{PageContext, Staff};

use crate::Error;
use crate::domain::documents::{
    AGREEMENT_TEMPLATE, Block, Particulars, agreement_document, amendment_document,
};
use crate::store::{self, AgreementRow, AmendmentKind};

async fn particulars(app: &AppState, a: &AgreementRow) -> Result<Particulars, Error> {
    let annexes = store::annexes(&app.db, a.id).await?;
    Ok(Particulars {
        commune: a.commune.name.clone(),
        siren: a.commune.siren.clone(),
        insee_code: a.commune.insee_code.clone().unwrap_or_default(),
        annexes: annexes
            .iter()
            .filter(|x| x.start_on.is_none())
            .enumerate()
            .map(|(i, x)| format!("{} (annexe {})", x.service_name, i + 1))
            .collect(),
        commune_signed: a.dates.commune_signed,
        metropolis_signed: a.dates.metropolis_signed,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "document.html")]
pub struct DocumentPage {
    ctx: PageContext,
    title: String,
    back: String,
    pdf: String,
    blocks: Vec<Block>,
}

async fn agreement_blocks(
    app: &AppState,
    staff: &Staff,
    id: i64,
) -> Result<(AgreementRow, Vec<Block>), Error> {
    let a = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let p = particulars(app, &a).await?;
    Ok((a, agreement_document(AGREEMENT_TEMPLATE, &p)))
}

async fn amendment_blocks(
    app: &AppState,
    staff: &Staff,
    id: i64,
    amendment: i64,
) -> Result<(AgreementRow, usize, Vec<Block>), Error> {
    let a = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let amendments = store::amendments(&app.db, id).await?;
    let (index, m) = amendments
        .iter()
        .enumerate()
        .find(|(_, m)| m.id == amendment)
        .ok_or(Error::NotFound)?;
    let p = particulars(app, &a).await?;
    let mut p = p;
    p.commune_signed = m.commune_signed;
    p.metropolis_signed = m.metropolis_signed;
    let blocks = amendment_document(
        index + 1,
        m.kind == AmendmentKind::Join,
        &m.service_name,
        m.effective_on,
        &p,
    );
    Ok((a, index + 1, blocks))
}

fn pdf_response(bytes: Vec<u8>, name: &str) -> Response {
    let disposition = format!("inline; filename=\"{name}.pdf\"");
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

pub async fn agreement(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(id): Path<i64>,
) -> Result<DocumentPage, Error> {
    let (a, blocks) = agreement_blocks(&app, &staff, id).await?;
    Ok(DocumentPage {
        title: format!("Convention-cadre — {}", a.commune.name),
        back: format!("/gestion/conventions/{id}"),
        pdf: format!("/gestion/conventions/{id}/document/pdf"),
        blocks,
        ctx,
    })
}

pub async fn agreement_pdf(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let (a, blocks) = agreement_blocks(&app, &staff, id).await?;
    Ok(pdf_response(
        crate::pdf::document_pdf(&blocks),
        &format!("convention-{}", a.commune.insee_code.unwrap_or_default()),
    ))
}

pub async fn amendment(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path((id, amendment)): Path<(i64, i64)>,
) -> Result<DocumentPage, Error> {
    let (a, n, blocks) = amendment_blocks(&app, &staff, id, amendment).await?;
    Ok(DocumentPage {
        title: format!("Avenant n° {n} — {}", a.commune.name),
        back: format!("/gestion/conventions/{id}#avenants"),
        pdf: format!("/gestion/conventions/{id}/avenants/{amendment}/document/pdf"),
        blocks,
        ctx,
    })
}

pub async fn amendment_pdf(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, amendment)): Path<(i64, i64)>,
) -> Result<Response, Error> {
    let (a, n, blocks) = amendment_blocks(&app, &staff, id, amendment).await?;
    Ok(pdf_response(
        crate::pdf::document_pdf(&blocks),
        &format!("avenant-{n}-{}", a.commune.insee_code.unwrap_or_default()),
    ))
}

/// Uploads a signed scan (multipart: `fichier`, optional `avenant`). The
/// CSRF token travels in the action's query string (kernel's CSRF layer).
pub async fn upload(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    mut form: Multipart,
) -> Result<Response, Error> {
    if !staff.viewer.has(kernel::web::Role::MetropolisAdmin) {
        return Err(Error::Forbidden);
    }
    store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let unreadable = || {
        Error::refused(
            "Le formulaire d'envoi est illisible : rechargez la page et recommencez.",
            "The upload form could not be read: reload the page and try again.",
        )
    };
    let (mut file, mut amendment) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|_| unreadable())? {
        match field.name() {
            Some("fichier") => {
                let name = field.file_name().unwrap_or("document").to_string();
                let bytes = field.bytes().await.map_err(|_| {
                    Error::refused(
                        "Le fichier dépasse 10 Mo ou l'envoi a été interrompu.",
                        "The file is larger than 10 MB or the upload was interrupted.",
                    )
                })?;
                file = Some((name, bytes));
            }
            Some("avenant") => {
                let text = field.text().await.map_err(|_| unreadable())?;
                if !text.is_empty() {
                    let m: i64 = text.parse().map_err(|_| unreadable())?;
                    if !store::amendments(&app.db, id)
                        .await?
                        .iter()
                        .any(|a| a.id == m)
                    {
                        return Err(Error::NotFound);
                    }
                    amendment = Some(m);
                }
            }
            _ => {}
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err(Error::refused(
            "Choisissez le fichier du scan signé.",
            "Choose the signed scan's file.",
        ));
    };
    let actor = kernel::audit::Actor::Account(staff.viewer.account_id);
    store::add_signed_document(&app.db, actor, id, amendment, &name, &bytes).await?;
    Ok(axum::response::Redirect::to(&format!("/gestion/conventions/{id}#pieces")).into_response())
}

pub async fn download(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, doc)): Path<(i64, i64)>,
) -> Result<Response, Error> {
    store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let (d, bytes) = store::signed_document_content(&app.db, id, doc)
        .await?
        .ok_or(Error::NotFound)?;
    let disposition = format!("attachment; filename=\"{}\"", d.filename);
    Ok((
        [
            (header::CONTENT_TYPE, d.content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// CONV-7: the commune's data archive, once the agreement or an annex ends.
/// The commune's administrators and the metropolis's download it.
pub async fn archive(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let a = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    if !staff.administers(a.commune.id) {
        return Err(Error::Forbidden);
    }
    if !crate::archive::available(&app.db, &a).await? {
        return Err(Error::refused(
            "Les données de la commune se téléchargent quand la convention ou l'une de ses annexes prend fin (article 12.3).",
            "The commune's data can be downloaded when the agreement or one of its annexes ends (article 12.3).",
        ));
    }
    let now = kernel::clock::now_ms();
    let generated = kernel::clock::format_ms(now);
    let files = crate::archive::files(&app.db, a.commune.id, &generated).await?;
    let insee = a.commune.insee_code.clone().unwrap_or_default();
    let folder = format!("donnees-{insee}");
    let bytes = crate::archive::tar(&folder, &files, (now / 1000) as u64)
        .map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
    let mut tx = app.db.begin().await?;
    kernel::audit::append(
        &mut tx,
        &kernel::audit::Event::new(
            kernel::audit::Actor::Account(staff.viewer.account_id),
            "data.export",
            format!("organisation:{}", a.commune.id),
        )
        .with(serde_json::json!({ "agreement": id, "files": files.len(), "bytes": bytes.len() })),
    )
    .await?;
    tx.commit().await?;
    let disposition = format!("attachment; filename=\"{folder}.tar\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

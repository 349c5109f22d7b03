//! CONV-10: signed scans, stored in the database (every node serves them).

use kernel::audit::{self, Actor, Event};
use kernel::{Db, clock};
use serde_json::json;
use sqlx::Row;

use crate::Error;
use crate::domain::documents::{MAX_SCAN_BYTES, safe_filename, scan_type};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDocument {
    pub id: i64,
    pub amendment_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
    pub size: i64,
    pub uploaded_at: i64,
}

/// Keeps a signed scan of the agreement (or of one of its amendments).
pub async fn add_signed_document(
    db: &Db,
    actor: Actor,
    agreement_id: i64,
    amendment_id: Option<i64>,
    filename: &str,
    bytes: &[u8],
) -> Result<i64, Error> {
    if bytes.is_empty() || bytes.len() > MAX_SCAN_BYTES {
        return Err(Error::refused(
            "Le fichier est vide ou dépasse 10 Mo : numérisez-le à une résolution plus basse.",
            "The file is empty or larger than 10 MB: scan it at a lower resolution.",
        ));
    }
    let Some(content_type) = scan_type(bytes) else {
        return Err(Error::refused(
            "Ce fichier n'est ni un PDF, ni une image PNG ou JPEG (vérifié d'après son contenu) : envoyez le scan signé dans l'un de ces formats.",
            "This file is neither a PDF nor a PNG or JPEG image (checked from its content): send the signed scan in one of these formats.",
        ));
    };
    let sha = kernel::random::sha256_hex(bytes);
    let name = safe_filename(filename);
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO signed_documents (agreement_id, amendment_id, filename, content_type, sha256, size, content, uploaded_by, uploaded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(agreement_id)
    .bind(amendment_id)
    .bind(&name)
    .bind(content_type)
    .bind(&sha)
    .bind(bytes.len() as i64)
    .bind(bytes.to_vec())
    .bind(actor.as_text())
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    audit::append(
        &mut tx,
        &Event::new(actor, "document.upload", format!("agreement:{agreement_id}"))
            .with(json!({ "document": id, "amendment": amendment_id, "filename": name, "sha256": sha, "size": bytes.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn signed_documents(
    db: &Db,
    agreement_id: i64,
) -> Result<Vec<SignedDocument>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, amendment_id, filename, content_type, sha256, size, uploaded_at FROM signed_documents WHERE agreement_id = $1 ORDER BY id",
    )
    .bind(agreement_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SignedDocument {
                id: r.try_get("id")?,
                amendment_id: r.try_get("amendment_id")?,
                filename: r.try_get("filename")?,
                content_type: r.try_get("content_type")?,
                sha256: r.try_get("sha256")?,
                size: r.try_get("size")?,
                uploaded_at: r.try_get("uploaded_at")?,
            })
        })
        .collect()
}

/// A scan's bytes, checked against the digest stored with them.
pub async fn signed_document_content(
    db: &Db,
    agreement_id: i64,
    id: i64,
) -> Result<Option<(SignedDocument, Vec<u8>)>, sqlx::Error> {
    let Some(doc) = signed_documents(db, agreement_id)
        .await?
        .into_iter()
        .find(|d| d.id == id)
    else {
        return Ok(None);
    };
    let content: Vec<u8> = sqlx::query("SELECT content FROM signed_documents WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await?
        .try_get("content")?;
    if kernel::random::sha256_hex(&content) != doc.sha256 {
        return Err(sqlx::Error::Decode(
            format!("signed document {id} does not match its SHA-256").into(),
        ));
    }
    Ok(Some((doc, content)))
}

//! The OpenID Connect provider (ID-3) from outside.

use kernel::testing;
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn discovery_and_jwks_describe_the_provider_id_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let doc = b.get("/.well-known/openid-configuration").await;
        assert_eq!(doc.status, StatusCode::OK, "{}", t.name);
        let doc: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
        assert_eq!(doc["issuer"], app.base);
        assert_eq!(doc["jwks_uri"], format!("{}/oidc/jwks", app.base));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["pairwise"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        for claim in [
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "email",
            "email_verified",
            "phone_number",
            "address",
            "birthplace",
            "birthcountry",
        ] {
            assert!(
                doc["claims_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == claim),
                "{claim}"
            );
        }
        let jwks: serde_json::Value =
            serde_json::from_str(&b.get("/oidc/jwks").await.body).unwrap();
        let algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs.len(), 2, "{}: one RS256 and one ES256 key", t.name);
        assert!(algs.contains(&"RS256") && algs.contains(&"ES256"));
        assert!(
            jwks.to_string().find("\"d\"").is_none(),
            "no private part in the JWKS"
        );
        // Private keys are sealed at rest: the stored bytes are not DER.
        let sealed: Vec<u8> = sqlx::Row::get(
            &sqlx::query("SELECT private_key FROM signing_keys LIMIT 1")
                .fetch_one(t.db.pool())
                .await
                .unwrap(),
            0,
        );
        assert!(
            app.state.master_key.open(&sealed).is_ok() && sealed[12] != 0x30,
            "sealed with the master key"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn rotation_keeps_the_old_public_keys_for_the_overlap_id_3() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let before = identity::oidc::keys::load(&t.db, &app.state.master_key)
        .await
        .unwrap()
        .jwks();
    let new = identity::oidc::keys::rotate(&t.db, &app.state.master_key)
        .await
        .unwrap();
    let ring = identity::oidc::keys::load(&t.db, &app.state.master_key)
        .await
        .unwrap();
    let after = ring.jwks();
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        4,
        "two new, two retired but still published"
    );
    for k in before["keys"].as_array().unwrap() {
        assert!(after["keys"].as_array().unwrap().contains(k));
    }
    assert_eq!(ring.signing("ES256").unwrap().kid, new[1]);
    assert_eq!(ring.signing("RS256").unwrap().kid, new[0]);
    app.stop().await;
}

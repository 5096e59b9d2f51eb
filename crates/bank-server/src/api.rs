//! The JSON API: create, read and list transactions. Bearer token, JSON in and out.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bank_core::store::ListFilter;
use bank_core::transaction::Champs;
use bank_core::{Billing, Currency, Money, NewTransaction, Status, Transaction};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::require_api_token;
use crate::error::ServerError;
use crate::AppState;

/// The body of `POST /api/transactions`: the options of `inserer_transaction`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Decimal string ("12.34", "12,34") in the currency.
    amount: String,
    #[serde(default)]
    currency: Option<String>,
    montant_ht: Option<String>,
    id_auteur: Option<i64>,
    auteur_id: Option<String>,
    auteur: Option<String>,
    parrain: Option<String>,
    tracking_id: Option<i64>,
    #[serde(default)]
    champs: Champs,
    billing: Option<Billing>,
    #[serde(default)]
    recurring: bool,
    #[serde(default)]
    force: bool,
}

pub(crate) fn tx_json(tx: &Transaction) -> Value {
    let mut v = serde_json::to_value(tx).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("id");
        m.insert(
            "amount_decimal".into(),
            json!(tx.amount.to_decimal_string()),
        );
        m.insert("currency".into(), json!(tx.amount.currency().code()));
        m.insert(
            "payment_path".into(),
            json!(format!("/pay/{}", tx.reference)),
        );
    }
    v
}

/// `POST /api/transactions`.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    require_api_token(&state, &headers)?;
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ServerError::BadRequest(format!("invalid JSON body: {e}")))?;
    crate::edge::check_json(&raw, "")?;
    let b: CreateBody = serde_json::from_value(raw)
        .map_err(|e| ServerError::BadRequest(format!("invalid JSON body: {e}")))?;
    let currency = match &b.currency {
        Some(c) => Currency::from_code(c)?,
        None => Currency::EUR,
    };
    let mut t = NewTransaction::new(Money::parse(&b.amount, currency)?);
    t.amount_ht = b
        .montant_ht
        .as_deref()
        .map(|a| Money::parse(a, currency))
        .transpose()?;
    t.id_auteur = b.id_auteur;
    t.auteur_id = b.auteur_id;
    t.auteur = b.auteur;
    t.parrain = b.parrain;
    t.tracking_id = b.tracking_id;
    t.champs = b.champs;
    t.billing = b.billing;
    t.recurring = b.recurring;
    t.force = b.force;
    let tx = state.engine.inserer_transaction(t).await?;
    Ok((StatusCode::CREATED, Json(tx_json(&tx))).into_response())
}

/// `GET /api/transactions/{reference}`: the transaction and its history.
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Response, ServerError> {
    require_api_token(&state, &headers)?;
    let tx = state.engine.transaction(&reference).await?;
    let history = state.engine.store().history(tx.id).await?;
    let mut v = tx_json(&tx);
    if let Value::Object(m) = &mut v {
        m.insert(
            "history".into(),
            serde_json::to_value(&history).unwrap_or(Value::Null),
        );
    }
    Ok(Json(v).into_response())
}

/// `GET /api/transactions?status=&mode=&authorisation=&reference=&before=&limit=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ServerError> {
    require_api_token(&state, &headers)?;
    let (filter, before, limit) = parse_list_query(q.as_deref().unwrap_or_default())?;
    let page = state
        .engine
        .store()
        .list_transactions(&filter, before, limit)
        .await?;
    let items: Vec<Value> = page.items.iter().map(tx_json).collect();
    Ok(Json(json!({ "items": items, "next": page.next })).into_response())
}

/// Parses the list filters shared by the API and the admin.
pub(crate) fn parse_list_query(q: &str) -> Result<(ListFilter, Option<i64>, u32), ServerError> {
    let mut filter = ListFilter::default();
    let (mut before, mut limit) = (None, 50u32);
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "status" => filter.status = Some(v.parse::<Status>()?),
            "mode" => filter.mode = Some(v.into_owned()),
            "authorisation" => filter.authorisation = Some(v.into_owned()),
            "reference" => filter.reference = Some(v.into_owned()),
            "before" => {
                before = Some(v.parse().map_err(|_| {
                    ServerError::BadRequest("before: expected an integer cursor".into())
                })?)
            }
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=500).contains(l))
                    .ok_or_else(|| ServerError::BadRequest("limit: expected 1 to 500".into()))?
            }
            other => return Err(ServerError::BadRequest(format!("unknown filter {other:?}"))),
        }
    }
    Ok((filter, before, limit))
}

/// `GET /api/openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

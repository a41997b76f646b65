//! The HTTP envelope of the GraphQL API (compat):
//! - `POST /graphql` (also `//graphql`) with `{"query", "variables", "operationName"}`;
//!   `variables` may be missing or null and unknown keys are ignored;
//! - the key as `?api_key=KEY` or `Authorization: Bearer KEY`;
//! - 401 for a missing key on anything that needs a user, and for an unknown key;
//! - 400 for bodies that are not GraphQL requests, parse and validation errors;
//! - 200 otherwise, resolver errors included, with the field `null` in `data`.
//!
//! Every error carries `message`, `locations` where known, `path` and `extensions.code`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Request as GraphqlRequest, Variables};
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use podyard_core::{Command, KeyAccess, Outcome};
use podyard_state::StateCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{error, info, info_span, Instrument};

use crate::caller::{ApiContext, Caller};
use crate::error::code;
use crate::schema::{build_schema, PodyardSchema};

#[derive(Clone)]
struct Api {
    core: StateCore,
    schema: Arc<PodyardSchema>,
}

/// The whole HTTP surface: GraphQL, the admin endpoints of the CLI, and a health check.
pub fn router(core: StateCore) -> Router {
    let api = Api {
        core,
        schema: Arc::new(build_schema()),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .fallback(dispatch)
        .with_state(api)
}

/// Routes by hand so that `//graphql` reaches the same handler as `/graphql`.
async fn dispatch(
    AxumState(api): AxumState<Api>,
    method: Method,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let key = api_key(&params, &headers);
    // The span names the path only: the query string may hold the API key.
    let span = info_span!("request", %method, path = %uri.path());
    match (method, path) {
        (Method::POST, "graphql") => graphql(api, key, body).instrument(span).await,
        (Method::POST, "admin/users") => add_user(api, key, body).instrument(span).await,
        (_, "graphql") => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST with a JSON body",
            code::GRAPHQL_PARSE_FAILED,
        ),
        _ => error_response(StatusCode::NOT_FOUND, "no such endpoint", "NOT_FOUND"),
    }
}

fn api_key(params: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| key.trim().to_string())
        });
    bearer
        .or_else(|| params.get("api_key").cloned())
        .filter(|k| !k.is_empty())
}

fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({"errors": [{"message": message, "path": [], "extensions": {"code": code}}]});
    (status, Json(body)).into_response()
}

fn unauthenticated() -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "the API key is not valid",
        code::UNAUTHENTICATED,
    )
}

/// A key was given but matches no user.
struct UnknownKey;

/// Resolves the key of a request.
fn caller(core: &StateCore, key: Option<String>) -> Result<Caller, UnknownKey> {
    let Some(key) = key else {
        return Ok(Caller { user: None });
    };
    core.read(|state| {
        state
            .authenticate(&key)
            .map(|(user, access)| (user.id.clone(), access))
    })
    .map(|user| Caller { user: Some(user) })
    .ok_or(UnknownKey)
}

#[derive(Deserialize)]
struct Body {
    query: Option<String>,
    variables: Option<Value>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
}

async fn graphql(api: Api, key: Option<String>, body: axum::body::Bytes) -> Response {
    let Ok(caller) = caller(&api.core, key) else {
        return unauthenticated();
    };
    let body: Body = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            let message = format!("the body is not a JSON GraphQL request: {e}");
            return error_response(
                StatusCode::BAD_REQUEST,
                &message,
                code::GRAPHQL_PARSE_FAILED,
            );
        }
    };
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the body has no \"query\"",
            code::GRAPHQL_PARSE_FAILED,
        );
    };
    if let Err(e) = async_graphql::parser::parse_query(&query) {
        return error_response(
            StatusCode::BAD_REQUEST,
            &e.to_string(),
            code::GRAPHQL_PARSE_FAILED,
        );
    }
    let variables = match body.variables {
        None | Some(Value::Null) => Variables::default(),
        Some(v @ Value::Object(_)) => Variables::from_json(v),
        Some(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "\"variables\" must be an object",
                code::GRAPHQL_PARSE_FAILED,
            )
        }
    };
    let mut request = GraphqlRequest::new(query).variables(variables);
    if let Some(name) = body.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    let context = ApiContext {
        core: api.core.clone(),
        caller,
    };
    let response = api.schema.execute(request.data(context)).await;
    let mut value = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    let status = finish_errors(&mut value);
    null_fields_of_resolver_errors(&mut value);
    if let Some(data) = value.get_mut("data") {
        integral_floats_as_integers(data);
    }
    (status, Json(value)).into_response()
}

/// Gives every error its code, path and compat message, and picks the HTTP status.
fn finish_errors(response: &mut Value) -> StatusCode {
    let data_is_null = response.get("data").is_none_or(Value::is_null);
    let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) else {
        return StatusCode::OK;
    };
    let mut status = StatusCode::OK;
    for error in errors.iter_mut().filter_map(Value::as_object_mut) {
        let has_path = error.get("path").is_some_and(|p| !p.is_null());
        // A value of the right GraphQL type but out of range (`gpuCount: -1` for an
        // unsigned field) passes validation and fails when the resolver reads it: it is a
        // wrong input all the same.
        let bad_argument = error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("Failed to parse \""));
        let extensions = error
            .entry("extensions")
            .or_insert_with(|| Value::Object(Map::new()));
        let code = match extensions.get("code").and_then(Value::as_str) {
            Some(code) => code.to_string(),
            // Errors without a path come from validation, before any resolver ran.
            None if !has_path || bad_argument => code::GRAPHQL_VALIDATION_FAILED.to_string(),
            None => code::INTERNAL_SERVER_ERROR.to_string(),
        };
        if let Some(ext) = extensions.as_object_mut() {
            ext.insert("code".into(), Value::String(code.clone()));
        }
        if !has_path {
            error.insert("path".into(), Value::Array(Vec::new()));
        }
        if let Some(message) = error.get("message").and_then(Value::as_str) {
            if let Some(compat) = unknown_field_message(message) {
                error.insert("message".into(), Value::String(compat));
            }
        }
        if code == code::UNAUTHENTICATED {
            status = StatusCode::UNAUTHORIZED;
        } else if code == code::GRAPHQL_VALIDATION_FAILED
            && (data_is_null || bad_argument)
            && status == StatusCode::OK
        {
            status = StatusCode::BAD_REQUEST;
        }
    }
    status
}

/// A mutation whose resolver fails leaves `data` null in async-graphql (it stops the
/// serial execution); RunPod answers the failed field as `null` inside `data`, e.g.
/// `{"data": {"podTerminate": null}, "errors": [...]}`, and clients read it so. Only
/// answers whose every error comes from a resolver (has a path) are rewritten: a request
/// refused before execution keeps `data` null.
fn null_fields_of_resolver_errors(response: &mut Value) {
    if !response.get("data").is_some_and(Value::is_null) {
        return;
    }
    let Some(errors) = response.get("errors").and_then(Value::as_array) else {
        return;
    };
    let mut fields = Map::new();
    for error in errors {
        let Some(Value::String(root)) = error.get("path").and_then(|p| p.get(0)) else {
            return;
        };
        fields.insert(root.clone(), Value::Null);
    }
    if !fields.is_empty() {
        response["data"] = Value::Object(fields);
    }
}

/// Rewrites the validator's text for an unknown input field into RunPod's wording:
/// `Field "<name>" is not defined by type "<Type>".` (compat).
fn unknown_field_message(message: &str) -> Option<String> {
    let rest = &message[message.find("unknown field \"")? + "unknown field \"".len()..];
    let (field, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(" of type \"")?;
    let (type_name, _) = rest.split_once('"')?;
    Some(format!(
        "Field \"{field}\" is not defined by type \"{type_name}\"."
    ))
}

/// Writes integral `Float` values as JSON integers (`62`, not `62.0`): one Go client
/// decodes them into integers.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddUserBody {
    name: String,
    #[serde(default)]
    read_only: bool,
}

/// `POST /admin/users`: creates a user with one key, or adds a key to an existing user.
/// Only the admin's read-write key may call it; the new key is in the answer, once.
async fn add_user(api: Api, key: Option<String>, body: axum::body::Bytes) -> Response {
    let Ok(Caller { user: Some(caller) }) = caller(&api.core, key) else {
        return unauthenticated();
    };
    let is_admin = api
        .core
        .read(|s| s.user(&caller.0).is_some_and(|u| u.admin));
    if !is_admin || caller.1 != KeyAccess::ReadWrite {
        return error_response(StatusCode::FORBIDDEN, "Unauthorized", code::FORBIDDEN);
    }
    let body: AddUserBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            let message = format!("expected {{\"name\": ..., \"readOnly\": ...}}: {e}");
            return error_response(StatusCode::BAD_REQUEST, &message, code::BAD_USER_INPUT);
        }
    };
    let access = if body.read_only {
        KeyAccess::ReadOnly
    } else {
        KeyAccess::ReadWrite
    };
    let existing = api
        .core
        .read(|s| s.user_by_name(&body.name).map(|u| u.id.clone()));
    let command = match existing {
        Some(user_id) => Command::AddApiKey { user_id, access },
        None => Command::AddUser {
            name: body.name.clone(),
            access,
            admin: false,
        },
    };
    match api.core.execute(command).await {
        Ok(Outcome::UserAdded { user, key }) => {
            info!(user_id = %user.id, name = %user.name, "user added");
            Json(json!({"userId": user.id, "name": user.name, "apiKey": key})).into_response()
        }
        Ok(Outcome::KeyAdded { key }) => {
            info!(name = %body.name, read_only = body.read_only, "API key added");
            Json(json!({"name": body.name, "apiKey": key})).into_response()
        }
        Ok(other) => {
            error!(outcome = ?other, "adding a user answered something else");
            let message = crate::error::INTERNAL_MESSAGE;
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                message,
                code::INTERNAL_SERVER_ERROR,
            )
        }
        Err(refusal) => match crate::error::code_of(&refusal) {
            Some(code) => error_response(StatusCode::BAD_REQUEST, &refusal.to_string(), code),
            None => {
                let message = crate::error::internal(&refusal);
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    message,
                    code::INTERNAL_SERVER_ERROR,
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_errors_take_runpods_wording() {
        let message = "Invalid value for argument \"input\", unknown field \"objectMounts\" \
                       of type \"PodResumeInput\"";
        assert_eq!(
            unknown_field_message(message).unwrap(),
            "Field \"objectMounts\" is not defined by type \"PodResumeInput\"."
        );
        assert!(unknown_field_message("Unknown field \"x\" on type \"Query\".").is_none());
    }

    #[test]
    fn a_failed_mutation_answers_its_field_as_null_inside_data() {
        let mut failed = json!({"data": null, "errors": [
            {"message": "pod not found to terminate", "path": ["podTerminate"]}]});
        null_fields_of_resolver_errors(&mut failed);
        assert_eq!(failed["data"], json!({"podTerminate": null}));

        let mut refused = json!({"data": null, "errors": [{"message": "x", "path": []}]});
        null_fields_of_resolver_errors(&mut refused);
        assert!(refused["data"].is_null());
    }

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut value = json!({"a": 62.0, "b": [0.5, 2.0], "c": "62.0", "d": 7});
        integral_floats_as_integers(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"a":62,"b":[0.5,2],"c":"62.0","d":7}"#
        );
    }
}

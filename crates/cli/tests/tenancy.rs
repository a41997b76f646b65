//! Tenants and keys: read-only keys cannot mutate, another tenant's pods do not exist for
//! a caller, the HTTP envelope answers the statuses of design §3.1, and keys stay secret.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};
use support::{running_containers_of, Server, IMAGE, RTX_4090};

const MYSELF: &str = "{ myself { id email pods { id desiredStatus } } }";
/// A well-formed pod id that no server ever made.
const UNKNOWN_POD: &str = "zz0000000000zz";

/// Checks the shape every error object must have and returns the first error's message
/// and code.
fn first_error(body: &Value) -> (String, String) {
    let errors = body["errors"].as_array().expect("an errors list");
    assert!(!errors.is_empty(), "no errors in {body}");
    for error in errors {
        assert!(error["message"].is_string(), "no message: {error}");
        assert!(error.get("path").is_some(), "no path: {error}");
        assert!(error["extensions"]["code"].is_string(), "no code: {error}");
    }
    let message = errors[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let code = errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (message, code)
}

/// Each pod mutation with its root field, aimed at `pod_id` where it takes one.
fn mutations(pod_id: &str) -> Vec<(&'static str, String)> {
    let create = format!("imageName: \"{IMAGE}\", gpuTypeId: \"{RTX_4090}\", gpuCount: 1");
    vec![
        (
            "podFindAndDeployOnDemand",
            format!("mutation {{ podFindAndDeployOnDemand(input: {{{create}}}) {{ id }} }}"),
        ),
        (
            "podRentInterruptable",
            format!(
                "mutation {{ podRentInterruptable(input: {{{create}, bidPerGpu: 0.2}}) {{ id }} }}"
            ),
        ),
        (
            "podResume",
            format!("mutation {{ podResume(input: {{podId: \"{pod_id}\"}}) {{ id }} }}"),
        ),
        (
            "podBidResume",
            format!(
                "mutation {{ podBidResume(input: {{podId: \"{pod_id}\", bidPerGpu: 0.2, \
                 gpuCount: 1}}) {{ id }} }}"
            ),
        ),
        (
            "podStop",
            format!("mutation {{ podStop(input: {{podId: \"{pod_id}\"}}) {{ id }} }}"),
        ),
        (
            "podTerminate",
            format!("mutation {{ podTerminate(input: {{podId: \"{pod_id}\"}}) }}"),
        ),
    ]
}

async fn my_pod_ids(server: &Server, key: &str) -> Vec<String> {
    let (status, body) = server.gql_as(key, MYSELF, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["myself"]["pods"]
        .as_array()
        .expect("pods list")
        .iter()
        .map(|p| p["id"].as_str().expect("pod id").to_string())
        .collect()
}

async fn pod_as(server: &Server, key: &str, id: &str) -> Value {
    let query = "query Pod($id: String!) { pod(input: {podId: $id}) { id desiredStatus } }";
    let (status, body) = server.gql_as(key, query, json!({"id": id})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["pod"].clone()
}

/// Creates a running pod as `key`; returns its id and its one running container.
async fn running_pod_of(server: &Server, key: &str, name: &str) -> (String, Vec<String>) {
    let pod = server.create_pod_as(key, json!({"name": name}), None).await;
    let id = pod["id"]
        .as_str()
        .expect("create answered a pod")
        .to_string();
    server.wait_running_as(key, &id).await;
    let containers = running_containers_of(&id);
    assert_eq!(containers.len(), 1, "one container runs {id}");
    (id, containers)
}

#[tokio::test]
async fn read_only_keys_read_but_every_mutation_is_unauthorized() {
    let server = Server::start(2).await;
    let alice = server.add_user("alice", false);
    let alice_reader = server.add_user("alice", true);
    let reader = server.add_user("reader", true);
    let (pod_id, containers) = running_pod_of(&server, &alice, "owned").await;

    assert_eq!(
        my_pod_ids(&server, &alice_reader).await,
        vec![pod_id.clone()]
    );
    assert_eq!(
        pod_as(&server, &alice_reader, &pod_id).await["desiredStatus"],
        "RUNNING"
    );
    assert!(my_pod_ids(&server, &reader).await.is_empty());

    for key in [&alice_reader, &reader] {
        for (field, query) in mutations(&pod_id) {
            let (status, body) = server.gql_as(key, &query, json!({})).await;
            assert_eq!(status, 200, "{field}: {body}");
            let (message, code) = first_error(&body);
            assert_eq!(message, "Unauthorized", "{field}: {body}");
            assert_eq!(code, "FORBIDDEN", "{field}: {body}");
            assert!(body["data"][field].is_null(), "{field}: {body}");
        }
    }

    assert_eq!(my_pod_ids(&server, &alice).await, vec![pod_id.clone()]);
    assert!(my_pod_ids(&server, &reader).await.is_empty());
    let pod = server.wait_running_as(&alice, &pod_id).await;
    assert_eq!(pod["desiredStatus"], "RUNNING");
    assert_eq!(
        running_containers_of(&pod_id),
        containers,
        "the container kept running"
    );
}

#[tokio::test]
async fn another_tenants_pod_looks_like_an_unknown_one() {
    let server = Server::start(2).await;
    let alice = server.add_user("alice", false);
    let bob = server.add_user("bob", false);
    let (pod_id, containers) = running_pod_of(&server, &alice, "private").await;

    assert!(pod_as(&server, &bob, &pod_id).await.is_null());
    assert!(!my_pod_ids(&server, &bob).await.contains(&pod_id));

    let foreign = mutations(&pod_id);
    let unknown = mutations(UNKNOWN_POD);
    let on_pods = ["podResume", "podBidResume", "podStop", "podTerminate"];
    for ((field, query), (_, unknown_query)) in foreign.iter().zip(&unknown) {
        if !on_pods.contains(field) {
            continue;
        }
        let (status, body) = server.gql_as(&bob, query, json!({})).await;
        assert_eq!(status, 200, "{field}: {body}");
        assert!(body["data"][field].is_null(), "{field}: {body}");
        let (message, code) = first_error(&body);
        assert_eq!(code, "POD_NOT_FOUND", "{field}: {body}");

        let (_, unknown_body) = server.gql_as(&bob, unknown_query, json!({})).await;
        let (unknown_message, unknown_code) = first_error(&unknown_body);
        assert_eq!(unknown_code, code, "{field}");
        assert_eq!(
            message.replace(&pod_id, "<id>"),
            unknown_message.replace(UNKNOWN_POD, "<id>"),
            "{field} must not tell a foreign pod from an unknown one"
        );
        if *field == "podTerminate" {
            assert_eq!(message, "pod not found to terminate");
        }
    }

    let pod = server.wait_running_as(&alice, &pod_id).await;
    assert_eq!(pod["desiredStatus"], "RUNNING");
    assert_eq!(my_pod_ids(&server, &alice).await, vec![pod_id.clone()]);
    assert_eq!(
        running_containers_of(&pod_id),
        containers,
        "the owner's pod still runs"
    );
}

#[tokio::test]
async fn missing_or_unknown_keys_answer_401_with_errors() {
    let server = Server::start(1).await;
    let query = json!({"query": MYSELF});

    let (status, body) = server.post(None, &query).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(first_error(&body).1, "UNAUTHENTICATED");
    assert!(body["data"]["myself"].is_null(), "{body}");

    let pod = json!({"query": format!("{{ pod(input: {{podId: \"{UNKNOWN_POD}\"}}) {{ id }} }}")});
    let (status, body) = server.post(None, &pod).await;
    assert_eq!(status, 401, "{body}");
    first_error(&body);

    let (status, body) = server.post(Some("not-a-key"), &query).await;
    assert_eq!(status, 401, "{body}");
    first_error(&body);
    let (status, body) = server.post_bearer("not-a-key", &query).await;
    assert_eq!(status, 401, "{body}");
    first_error(&body);
}

#[tokio::test]
async fn catalog_queries_need_no_key() {
    let server = Server::start(1).await;
    for (field, query) in [
        ("gpuTypes", "{ gpuTypes { id } }"),
        ("dataCenters", "{ dataCenters { id } }"),
    ] {
        let (status, body) = server.post(None, &json!({"query": query})).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        let items = body["data"][field].as_array().expect("a list");
        assert!(!items.is_empty(), "{field} is empty: {body}");
    }
}

#[tokio::test]
async fn the_key_is_accepted_as_query_parameter_and_as_bearer_header() {
    let server = Server::start(1).await;
    let query = json!({"query": "{ myself { id } }"});
    let (status, by_parameter) = server.post(Some(&server.key), &query).await;
    assert_eq!(status, 200, "{by_parameter}");
    let (status, by_header) = server.post_bearer(&server.key, &query).await;
    assert_eq!(status, 200, "{by_header}");
    assert!(
        by_parameter["data"]["myself"]["id"].is_string(),
        "{by_parameter}"
    );
    assert_eq!(by_parameter, by_header);
}

#[tokio::test]
async fn malformed_requests_answer_400_with_a_code() {
    let server = Server::start(1).await;
    let key = Some(server.key.as_str());

    let (status, body) = server.post(key, &json!({"query": "{ myself { id }"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_error(&body).1, "GRAPHQL_PARSE_FAILED");

    let (status, body) = server
        .post(key, &json!({"query": "{ myself { nope } }"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(first_error(&body).1, "GRAPHQL_VALIDATION_FAILED");

    let resume = "mutation { podResume(input: {podId: \"x\", allowedCudaVersions: [\"12.1\"]}) \
                  { id } }";
    let (status, body) = server.post(key, &json!({"query": resume})).await;
    assert_eq!(status, 400, "{body}");
    let (message, code) = first_error(&body);
    assert_eq!(
        message,
        "Field \"allowedCudaVersions\" is not defined by type \"PodResumeInput\"."
    );
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn variables_may_be_missing_or_null_and_unknown_keys_are_ignored() {
    let server = Server::start(1).await;
    let url = format!("/graphql?api_key={}", server.key);
    for text in [
        r#"{"query": "{ myself { id } }"}"#,
        r#"{"query": "{ myself { id } }", "variables": null}"#,
        r#"{"query": "{ myself { id } }", "variable": {}}"#,
        r#"{"query": "{ myself { id } }", "variables": {}, "operationName": null}"#,
    ] {
        let (status, body) = server.post_text(&url, text).await;
        assert_eq!(status, 200, "{text}: {body}");
        assert!(body.get("errors").is_none(), "{text}: {body}");
        assert!(body["data"]["myself"]["id"].is_string(), "{text}: {body}");
    }
}

#[tokio::test]
async fn a_double_slash_path_reaches_graphql() {
    let server = Server::start(1).await;
    let url = format!("//graphql?api_key={}", server.key);
    let (status, body) = server
        .post_text(&url, r#"{"query": "{ myself { id } }"}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["myself"]["id"].is_string(), "{body}");
}

#[tokio::test]
async fn user_add_prints_a_key_that_works() {
    let server = Server::start(1).await;
    let admin_id = server.gql("{ myself { id } }", json!({})).await["myself"]["id"].clone();

    // `add_user` also checks that the command printed exactly one line.
    let carol = server.add_user("carol", false);
    let (status, body) = server
        .gql_as(&carol, "{ myself { id email } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let carol_id = body["data"]["myself"]["id"].clone();
    assert!(carol_id.is_string(), "{body}");
    assert_ne!(carol_id, admin_id);

    // A read-write key reaches the state core: the refusal is about the pod, not the key.
    let stop = format!("mutation {{ podStop(input: {{podId: \"{UNKNOWN_POD}\"}}) {{ id }} }}");
    let (status, body) = server.gql_as(&carol, &stop, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first_error(&body).1, "POD_NOT_FOUND");

    let carol_reader = server.add_user("carol", true);
    assert_ne!(carol_reader, carol);
    let (status, body) = server
        .gql_as(&carol_reader, "{ myself { id } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["myself"]["id"], carol_id,
        "a second key of the same user"
    );

    let dave_reader = server.add_user("dave", true);
    let (status, body) = server.gql_as(&dave_reader, MYSELF, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["myself"]["pods"].is_array(), "{body}");
}

#[tokio::test]
async fn keys_stay_out_of_the_log_and_the_admin_key_file_is_private() {
    let server = Server::start(1).await;
    let path = server.data_dir().join("admin-api-key");
    let mode = std::fs::metadata(&path)
        .expect("admin key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin-api-key is {:o}", mode & 0o777);

    let user = server.add_user("erin", false);
    let reader = server.add_user("erin", true);
    let query = json!({"query": MYSELF});
    for key in [&server.key, &user, &reader] {
        assert_eq!(server.post(Some(key), &query).await.0, 200);
        assert_eq!(server.post_bearer(key, &query).await.0, 200);
        let broken = json!({"query": "{ myself { nope } }"});
        assert_eq!(server.post(Some(key), &broken).await.0, 400);
    }
    let (_, refused) = server
        .gql_as(&reader, &mutations(UNKNOWN_POD)[4].1, json!({}))
        .await;
    assert_eq!(first_error(&refused).0, "Unauthorized");
    let unknown_key = "pyk-unknown-key-that-must-not-be-logged";
    assert_eq!(server.post(Some(unknown_key), &query).await.0, 401);

    let log = server.log();
    assert!(!log.is_empty(), "the server logs something");
    for (who, key) in [
        ("admin", server.key.as_str()),
        ("user", user.as_str()),
        ("reader", reader.as_str()),
        ("unknown", unknown_key),
    ] {
        assert!(!log.contains(key), "the {who} key is in the server log");
    }
}

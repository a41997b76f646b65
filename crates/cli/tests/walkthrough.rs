//! RunPod's "Start Pod" documentation, sent as documented: create a pod, stop it, and
//! start it again with the documented `podResume` (on-demand) or `podBidResume` (spot)
//! request text, only the pod id replaced and the key in `?api_key=`.

mod support;

use serde_json::{json, Value};
use support::{running_containers_of, wait_docker, Server, RTX_4090};

/// The documented request bodies, verbatim but for the pod id (split only to fit the
/// line width: the pieces join into the documented text byte for byte).
const DOC_POD_RESUME: &str = concat!(
    r#"{"query": "mutation { podResume( input: { podId: \"inzk6tzuz833h5\", gpuCount: 1 } ) "#,
    r#"{ id desiredStatus imageName env machineId machine { podHostId } } }"}"#,
);
const DOC_POD_BID_RESUME: &str = concat!(
    r#"{"query": "mutation { podBidResume( input: { podId: \"d62t7qg9n5vthd\", "#,
    r#"bidPerGpu: 0.2, gpuCount: 1 } ) "#,
    r#"{ id desiredStatus imageName env machineId machine { podHostId } } }"}"#,
);

async fn stop(server: &Server, id: &str) -> Value {
    let query = "mutation Stop($id: String!) { podStop(input: {podId: $id}) { id desiredStatus } }";
    server.gql(query, json!({"id": id})).await["podStop"].clone()
}

fn assert_documented_answer(pod: &Value, id: &str) {
    assert_eq!(pod["id"], id);
    assert_eq!(pod["desiredStatus"], "RUNNING");
    assert_eq!(pod["imageName"], support::IMAGE);
    let env: Vec<&str> = pod["env"]
        .as_array()
        .expect("env is a list")
        .iter()
        .map(|v| v.as_str().expect("env entries are strings"))
        .collect();
    assert!(env.iter().all(|e| e.contains('=')), "{env:?}");
    assert!(
        env.iter().any(|e| e.starts_with("JUPYTER_PASSWORD=")),
        "{env:?}"
    );
    let machine_id = pod["machineId"].as_str().expect("machineId");
    assert_eq!(machine_id.len(), 12);
    let host_id = pod["machine"]["podHostId"].as_str().expect("podHostId");
    let (pod_part, hex) = host_id.rsplit_once('-').expect("<podId>-<hex>");
    assert_eq!(pod_part, id);
    assert_eq!(hex.len(), 8);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

async fn resume_as_documented(server: &Server, template: &str, doc_id: &str, id: &str) -> Value {
    let body = template.replace(doc_id, id);
    let url = format!("/graphql?api_key={}", server.key);
    let (status, answer) = server.post_text(&url, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("errors").is_none(), "{answer}");
    let field = answer["data"]
        .as_object()
        .and_then(|o| o.values().next().cloned())
        .expect("one field");
    field
}

#[tokio::test]
async fn documented_pod_resume_starts_a_stopped_on_demand_pod() {
    let server = Server::start(4).await;
    let pod = server
        .create_pod(json!({"gpuCount": 1, "name": "walkthrough"}), None)
        .await;
    let id = pod["id"].as_str().expect("id").to_string();
    server.wait_running(&id).await;
    let first_container = running_containers_of(&id);
    assert_eq!(first_container.len(), 1);

    assert_eq!(stop(&server, &id).await["desiredStatus"], "EXITED");
    let stopped = server.pod(&id).await;
    assert!(
        stopped["runtime"].is_null(),
        "no runtime once stopped: {stopped}"
    );
    wait_docker(&id, "container removed", || {
        running_containers_of(&id).is_empty()
    })
    .await;

    let answer = resume_as_documented(&server, DOC_POD_RESUME, "inzk6tzuz833h5", &id).await;
    assert_documented_answer(&answer, &id);
    let running = server.wait_running(&id).await;
    assert_eq!(running["gpuCount"], 1);
    let containers = running_containers_of(&id);
    assert_eq!(containers.len(), 1, "exactly one container runs the pod");
    assert_ne!(
        containers, first_container,
        "a resume starts a fresh container"
    );
}

#[tokio::test]
async fn documented_pod_bid_resume_starts_a_stopped_spot_pod() {
    let server = Server::start(4).await;
    let pod = server
        .create_pod(json!({"gpuCount": 1, "gpuTypeId": RTX_4090}), Some(0.2))
        .await;
    assert_eq!(pod["podType"], "INTERRUPTABLE");
    assert_eq!(pod["costPerHr"], 0.2);
    let id = pod["id"].as_str().expect("id").to_string();
    server.wait_running(&id).await;
    stop(&server, &id).await;

    let answer = resume_as_documented(&server, DOC_POD_BID_RESUME, "d62t7qg9n5vthd", &id).await;
    assert_documented_answer(&answer, &id);
    let running = server.wait_running(&id).await;
    assert_eq!(running["costPerHr"], 0.2);
    assert_eq!(running_containers_of(&id).len(), 1);
}

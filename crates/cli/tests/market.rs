//! The spot market with real containers: a spot pod outbid gets SIGTERM, keeps its
//! volume, and its GPU goes to the winner only once its container has stopped.

mod support;

use serde_json::{json, Value};
use support::{containers_of, docker, running_containers_of, wait_docker, Server, IMAGE};

/// A pod command that writes a marker to its volume when it receives SIGTERM.
const TRAPS_SIGTERM: &str = "sh -c 'trap \"echo outbid > /workspace/marker; exit 0\" TERM; \
     while :; do sleep 0.1; done'";

fn id(pod: &Value) -> String {
    pod["id"].as_str().expect("pod id").to_string()
}

fn volume_file(pod: &str, file: &str) -> String {
    let mount = format!("podyard-vol-{pod}:/v");
    docker(&[
        "run",
        "--rm",
        "-v",
        &mount,
        IMAGE,
        "cat",
        &format!("/v/{file}"),
    ])
}

/// Nanosecond timestamps of a Docker event of the pod's containers since `since`.
fn event_times(pod: &str, action: &str, since: &str) -> Vec<u128> {
    let filter = format!("label=podyard.pod-id={pod}");
    let until = format!("{}", chrono_now_secs() + 1);
    docker(&[
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        &filter,
        "--filter",
        &format!("event={action}"),
        "--format",
        "{{.TimeNano}}",
    ])
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

async fn outbid_by(server: &Server, winner: Value, bid: Option<f64>) {
    let victim = server
        .create_pod(
            json!({"volumeInGb": 1, "dockerArgs": TRAPS_SIGTERM}),
            Some(0.2),
        )
        .await;
    let victim_id = id(&victim);
    let running = server.wait_running(&victim_id).await;
    let freed_gpu = running["runtime"]["gpus"][0]["id"]
        .as_str()
        .expect("gpu")
        .to_string();
    let since = format!("{}", chrono_now_secs().saturating_sub(1));

    let winner = server.create_pod(winner, bid).await;
    let winner_id = id(&winner);

    let outbid = server.pod(&victim_id).await;
    assert_eq!(outbid["desiredStatus"], "EXITED");
    assert!(outbid["runtime"].is_null());
    assert_eq!(outbid["costPerHr"], 0);
    let change = outbid["lastStatusChange"].as_str().unwrap();
    assert!(change.starts_with("Outbid: "), "{change}");

    server.wait_running(&winner_id).await;
    wait_docker(&victim_id, "container removed", || {
        containers_of(&victim_id).is_empty()
    })
    .await;
    assert_eq!(
        volume_file(&victim_id, "marker"),
        "outbid",
        "SIGTERM reached the pod"
    );
    let visible = support::exec(&winner_id, "echo $NVIDIA_VISIBLE_DEVICES");
    assert_eq!(visible, freed_gpu, "the winner runs on the GPU it freed");
    assert_eq!(running_containers_of(&winner_id).len(), 1);

    let died = event_times(&victim_id, "die", &since);
    let started = event_times(&winner_id, "start", &since);
    assert_eq!((died.len(), started.len()), (1, 1), "{died:?} {started:?}");
    assert!(died[0] <= started[0], "two containers held the GPU at once");
}

#[tokio::test]
async fn a_higher_spot_bid_outbids_a_lower_one_with_notice() {
    let server = Server::start(1).await;
    outbid_by(&server, json!({}), Some(0.3)).await;

    let pods = server
        .gql(
            "{ myself { pods { id podType desiredStatus preemptionReason \
             lowestBidPriceToResume } } }",
            json!(null),
        )
        .await;
    let victim = pods["myself"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["desiredStatus"] == "EXITED")
        .cloned()
        .expect("the outbid pod");
    let reason = victim["preemptionReason"].as_str().unwrap();
    assert!(reason.contains("0.3") && reason.contains("0.2"), "{reason}");
    assert_eq!(victim["lowestBidPriceToResume"], 0.31);
}

#[tokio::test]
async fn an_on_demand_pod_preempts_a_spot_pod_with_notice() {
    let server = Server::start(1).await;
    outbid_by(&server, json!({}), None).await;
}

#[tokio::test]
async fn an_equal_bid_leaves_the_running_pod_alone_and_explains_why() {
    let server = Server::start(1).await;
    let first = id(&server.create_pod(json!({}), Some(0.25)).await);
    let query = "mutation { podRentInterruptable(input: {gpuTypeId: \"NVIDIA GeForce RTX 4090\", \
                 imageName: \"podyard-test/busybox:latest\", bidPerGpu: 0.25}) { id } }";
    let (status, body) = server.gql_as(&server.key, query, json!(null)).await;
    assert_eq!(status, 200);
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "NO_CAPACITY");
    let considered = error["extensions"]["considered"]
        .as_array()
        .expect("considered");
    assert_eq!(considered.len(), 1);
    let reason = considered[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 by spot bids of $0.25 or more"),
        "{reason}"
    );
    assert_eq!(server.pod(&first).await["desiredStatus"], "RUNNING");

    let prices = "{ gpuTypes(input: {id: \"NVIDIA GeForce RTX 4090\"}) { \
                  lowestPrice(input: {gpuCount: 1}) { minimumBidPrice stockStatus } } }";
    let figures = server.gql(prices, json!(null)).await;
    let lowest = &figures["gpuTypes"][0]["lowestPrice"];
    assert_eq!(lowest["minimumBidPrice"], 0.26);
    assert!(
        lowest["stockStatus"].is_string(),
        "on-demand can still have it: {lowest}"
    );
}

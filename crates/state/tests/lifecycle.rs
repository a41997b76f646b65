//! The lifecycle rules of each command, decided against in-memory state.

mod support;

use podyard_core::command::CreatePod;
use podyard_core::{Command, CommandError, DesiredStatus, Outcome, UserId};
use podyard_state::scheduler::Filters;
use podyard_state::stock::{stock, StockStatus};
use support::{machine, pod, spot, World, RTX_4090};

#[test]
fn create_allocates_gpus_and_generates_a_jupyter_password() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let pod = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    assert_eq!(pod.desired, DesiredStatus::Running);
    assert_eq!(pod.gpus, vec![0]);
    assert_eq!(pod.cost_per_hr(), 0.69);
    assert!(pod
        .env
        .iter()
        .any(|v| v.key == "JUPYTER_PASSWORD" && v.value.len() == 20));
    assert_eq!(pod.last_status_change.event, "Rented by User");
}

#[test]
fn stop_releases_gpus_and_resume_takes_them_again_on_the_same_machine() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let created = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    let stopped = world.stop(&created.id).unwrap();
    assert!(stopped.gpus.is_empty());
    assert_eq!(stopped.cost_per_hr(), 0.0);
    assert_eq!(stopped.last_status_change.event, "Exited by user");
    let again = world.stop(&created.id).unwrap();
    assert_eq!(again.last_status_change, stopped.last_status_change);

    let resumed = world.resume(&created.id, None).unwrap();
    assert_eq!(resumed.gpu_count, 1);
    assert_eq!(resumed.machine_id, created.machine_id);
    assert_eq!(resumed.generation, created.generation + 1);
    let twice = world.resume(&created.id, Some(3)).unwrap();
    assert_eq!(
        twice.gpus, resumed.gpus,
        "a running pod is never allocated twice"
    );
}

#[test]
fn resume_fails_when_host_gpus_are_taken_and_works_once_free() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let first = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    world.stop(&first.id).unwrap();
    let hog = world
        .create(CreatePod {
            gpu_count: 4,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap();
    let refused = world.resume(&first.id, None).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "There are not enough free GPUs on the host machine to start this pod."
    );
    assert!(!world.state.pod(&first.id).unwrap().is_running());
    world.stop(&hog.id).unwrap();
    assert!(world.resume(&first.id, None).unwrap().is_running());
}

#[test]
fn resume_with_zero_gpus_is_honoured() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 1, true)]);
    let pod = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    world.stop(&pod.id).unwrap();
    let resumed = world.resume(&pod.id, Some(0)).unwrap();
    assert_eq!(resumed.gpu_count, 0);
    assert!(resumed.gpus.is_empty());
    assert!(resumed.is_running());
}

#[test]
fn spot_and_on_demand_pods_cannot_be_resumed_as_the_other() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let spot_pod = world.create(spot(0.2)).unwrap();
    assert_eq!(spot_pod.cost_per_hr(), 0.2);
    world.stop(&spot_pod.id).unwrap();
    let refused = world.resume(&spot_pod.id, None).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Cannot resume a spot pod as an on demand pod."
    );

    let on_demand = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    world.stop(&on_demand.id).unwrap();
    let refused = world
        .run(Command::BidResumePod {
            owner: world.owner.clone(),
            pod_id: on_demand.id.clone(),
            bid_per_gpu: 0.2,
            gpu_count: 1,
        })
        .unwrap_err();
    assert!(matches!(
        refused,
        CommandError::OnDemandResumedAsSpot { .. }
    ));

    let resumed = pod(world
        .run(Command::BidResumePod {
            owner: world.owner.clone(),
            pod_id: spot_pod.id.clone(),
            bid_per_gpu: 0.3,
            gpu_count: 2,
        })
        .unwrap());
    assert_eq!(resumed.cost_per_hr(), 0.6);
}

#[test]
fn bids_outside_floor_and_on_demand_price_are_refused_with_the_limits() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let low = world.create(spot(0.05)).unwrap_err();
    assert!(matches!(low, CommandError::BidTooLow { minimum, .. } if minimum == 0.2));
    assert!(low.to_string().contains("0.2"));
    let high = world.create(spot(0.69)).unwrap_err();
    assert!(matches!(high, CommandError::BidTooHigh { on_demand, .. } if on_demand == 0.69));
    assert!(
        world.state.pods().next().is_none(),
        "refusals change nothing"
    );
}

#[test]
fn capacity_errors_differ_from_bad_requests() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let unknown = world.create(CreatePod::new("img", "RTX 4090")).unwrap_err();
    assert!(matches!(unknown, CommandError::UnknownGpuType { .. }));
    assert!(unknown.to_string().contains(RTX_4090));
    let too_many = world
        .create(CreatePod {
            gpu_count: 5,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap_err();
    assert!(matches!(
        too_many,
        CommandError::GpuCountTooLarge { max: 4, .. }
    ));
    world
        .create(CreatePod {
            gpu_count: 4,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap();
    let full = world.create(CreatePod::new("img", RTX_4090)).unwrap_err();
    let CommandError::NoCapacity { considered } = full else {
        panic!("expected no capacity, got {full:?}");
    };
    assert_eq!(considered.len(), 1);
    assert!(considered[0].reason.contains("0 free"), "{considered:?}");
}

#[test]
fn cheapest_machine_wins_then_the_fullest() {
    let community = machine(RTX_4090, 4, false);
    let secure_a = machine(RTX_4090, 4, true);
    let secure_b = machine(RTX_4090, 4, true);
    let mut world =
        World::with_machines(vec![community.clone(), secure_a.clone(), secure_b.clone()]);
    let cheap = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    assert_eq!(cheap.machine_id, community.id);
    let secure = CreatePod {
        cloud_type: podyard_core::CloudType::Secure,
        ..CreatePod::new("img", RTX_4090)
    };
    let first = world.create(secure.clone()).unwrap();
    let second = world.create(secure).unwrap();
    assert_eq!(
        first.machine_id, second.machine_id,
        "bin-packing fills one machine first"
    );
}

#[test]
fn other_users_pods_behave_as_nonexistent() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let mine = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    world.owner = UserId::generate();
    assert!(matches!(
        world.stop(&mine.id),
        Err(CommandError::PodNotFound { .. })
    ));
    let terminate = world
        .run(Command::TerminatePod {
            owner: world.owner.clone(),
            pod_id: mine.id.clone(),
        })
        .unwrap_err();
    assert_eq!(terminate.to_string(), "pod not found to terminate");
}

#[test]
fn terminate_releases_gpus_and_a_second_terminate_is_not_found() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 1, true)]);
    let pod = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    let terminate = Command::TerminatePod {
        owner: world.owner.clone(),
        pod_id: pod.id.clone(),
    };
    assert_eq!(world.run(terminate.clone()).unwrap(), Outcome::Terminated);
    assert!(world.state.pod(&pod.id).is_none());
    assert!(world.create(CreatePod::new("img", RTX_4090)).is_ok());
    assert!(matches!(
        world.run(terminate),
        Err(CommandError::PodNotFoundToTerminate { .. })
    ));
}

#[test]
fn stock_reports_what_placement_can_allocate() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let gpu_type = world.catalog.get(RTX_4090).unwrap().clone();
    let filters = |count| Filters {
        gpu_count: count,
        ..Filters::default()
    };
    let fresh = stock(&world.state, &gpu_type, &filters(1));
    assert_eq!(fresh.stock_status, Some(StockStatus::High));
    assert_eq!(fresh.minimum_bid_price, Some(0.2));
    assert_eq!(fresh.available_gpu_counts, vec![1, 2, 3, 4]);
    world
        .create(CreatePod {
            gpu_count: 3,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap();
    let two = stock(&world.state, &gpu_type, &filters(2));
    assert_eq!(two.stock_status, None);
    assert_eq!(two.minimum_bid_price, None);
    assert_eq!(two.rented_count, 3);
    assert!(world
        .create(CreatePod {
            gpu_count: 2,
            ..CreatePod::new("img", RTX_4090)
        })
        .is_err());
}

#[test]
fn observations_of_a_stale_generation_are_dropped() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let pod = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    let observation = podyard_core::Observation {
        pod_id: pod.id.clone(),
        generation: pod.generation,
        state: podyard_core::ContainerState::Starting,
    };
    world
        .run(Command::ReportObservations {
            machine_id: pod.machine_id.clone(),
            observations: vec![observation.clone()],
        })
        .unwrap();
    assert!(world.state.observation(&pod.id).is_some());
    world.stop(&pod.id).unwrap();
    assert!(
        world.state.observation(&pod.id).is_none(),
        "stopped pods have no runtime"
    );
    world
        .run(Command::ReportObservations {
            machine_id: pod.machine_id.clone(),
            observations: vec![observation],
        })
        .unwrap();
    assert!(world.state.observation(&pod.id).is_none());
}

#[test]
fn oversized_requests_are_refused_without_harm() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let huge_volume = world
        .create(CreatePod {
            volume_in_gb: u32::MAX,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap_err();
    assert!(matches!(
        huge_volume,
        CommandError::InvalidInput {
            field: "volumeInGb",
            ..
        }
    ));
    let env = (0..257)
        .map(|i| podyard_core::EnvVar::new(format!("K{i}"), "v"))
        .collect();
    let many_vars = world
        .create(CreatePod {
            env,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap_err();
    assert!(matches!(
        many_vars,
        CommandError::InvalidInput { field: "env", .. }
    ));
    let long_name = world
        .create(CreatePod {
            name: "x".repeat(10_000),
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap_err();
    assert!(matches!(
        long_name,
        CommandError::InvalidInput { field: "name", .. }
    ));
    assert!(world.state.pods().next().is_none());
}

#[test]
fn resume_with_more_gpus_than_the_machine_has_is_not_a_capacity_error() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 2, true)]);
    let pod = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    world.stop(&pod.id).unwrap();
    let refused = world.resume(&pod.id, Some(1000)).unwrap_err();
    assert!(
        matches!(refused, CommandError::GpuCountTooLarge { max: 2, .. }),
        "{refused:?}"
    );
}

#[test]
fn a_machine_that_lost_gpus_stops_the_pods_holding_them() {
    let shrinking = machine(RTX_4090, 4, true);
    let mut world = World::with_machines(vec![shrinking.clone()]);
    let low = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    let high = world
        .create(CreatePod {
            gpu_count: 3,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap();
    let smaller = podyard_core::Machine {
        gpus: shrinking.gpus[..2].to_vec(),
        ..shrinking
    };
    world
        .run(Command::RegisterMachine { machine: smaller })
        .unwrap();
    assert!(world.state.pod(&low.id).unwrap().is_running());
    let stopped = world.state.pod(&high.id).unwrap();
    assert!(!stopped.is_running());
    assert!(stopped
        .last_status_change
        .event
        .contains("no longer has its GPUs"));
}

#[test]
fn a_new_pod_prefers_gpus_that_were_not_just_released() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 3, true)]);
    let first = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    assert_eq!(first.gpus, vec![0]);
    world.stop(&first.id).unwrap();
    // GPU 0's container may still be stopping: GPU 1 is free without waiting.
    let second = world.create(CreatePod::new("img", RTX_4090)).unwrap();
    assert_eq!(second.gpus, vec![1]);
    let third = world
        .create(CreatePod {
            gpu_count: 2,
            ..CreatePod::new("img", RTX_4090)
        })
        .unwrap();
    assert_eq!(third.gpus, vec![0, 2], "all free GPUs are still usable");
}

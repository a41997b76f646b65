//! The spot market's rules, decided against in-memory state.

mod support;

use podyard_core::command::CreatePod;
use podyard_core::{CommandError, DesiredStatus};
use podyard_state::assign::assignments;
use podyard_state::market::minimum_bid;
use podyard_state::scheduler::Filters;
use podyard_state::stock::stock;
use support::{machine, spot, World, RTX_4090};

fn on_demand(gpu_count: u32) -> CreatePod {
    CreatePod {
        gpu_count,
        ..CreatePod::new("img", RTX_4090)
    }
}

fn spot_of(gpu_count: u32, bid: f64) -> CreatePod {
    CreatePod {
        gpu_count,
        ..spot(bid)
    }
}

#[test]
fn on_demand_create_preempts_the_lowest_bids_first() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 4, true)]);
    let high = world.create(spot_of(2, 0.4)).unwrap();
    let low = world.create(spot_of(1, 0.2)).unwrap();
    let middle = world.create(spot_of(1, 0.3)).unwrap();

    let winner = world.create(on_demand(2)).unwrap();

    let state = &world.state;
    assert!(state.pod(&high.id).unwrap().is_running());
    for loser in [&low, &middle] {
        let loser = state.pod(&loser.id).unwrap();
        assert_eq!(loser.desired, DesiredStatus::Exited);
        assert_eq!(loser.last_status_change.event, "Outbid");
        assert!(loser.gpus.is_empty());
        assert_eq!(loser.cost_per_hr(), 0.0, "billing stops at preemption");
        let reason = loser.preemption.as_ref().unwrap().to_string();
        assert!(reason.contains("on-demand"), "{reason}");
    }
    let mut freed = [low.gpus.clone(), middle.gpus.clone()].concat();
    freed.sort_unstable();
    assert_eq!(
        winner.gpus, freed,
        "the winner gets exactly the GPUs it freed"
    );
}

#[test]
fn a_spot_bid_preempts_only_strictly_lower_bids() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 2, true)]);
    let a = world.create(spot_of(1, 0.3)).unwrap();
    let b = world.create(spot_of(1, 0.25)).unwrap();

    let equal = world.create(spot_of(1, 0.25)).unwrap_err();
    assert!(
        matches!(equal, CommandError::NoCapacity { .. }),
        "equal bids keep the pod"
    );
    assert!(world.state.pod(&b.id).unwrap().is_running());

    let higher = world.create(spot_of(1, 0.26)).unwrap();
    assert_eq!(higher.gpus, b.gpus);
    let outbid = world.state.pod(&b.id).unwrap();
    assert!(!outbid.is_running());
    let reason = outbid.preemption.as_ref().unwrap().to_string();
    assert!(
        reason.contains("0.26") && reason.contains("0.25"),
        "{reason}"
    );
    assert!(world.state.pod(&a.id).unwrap().is_running());
}

#[test]
fn on_demand_pods_are_never_preempted() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 1, true)]);
    let held = world.create(on_demand(1)).unwrap();
    assert!(matches!(
        world.create(spot_of(1, 0.68)),
        Err(CommandError::NoCapacity { .. })
    ));
    assert!(matches!(
        world.create(on_demand(1)),
        Err(CommandError::NoCapacity { .. })
    ));
    assert!(world.state.pod(&held.id).unwrap().is_running());
}

#[test]
fn free_gpus_elsewhere_are_taken_before_anyone_is_preempted() {
    let busy = machine(RTX_4090, 1, true);
    let idle = machine(RTX_4090, 1, true);
    let mut world = World::with_machines(vec![busy.clone(), idle.clone()]);
    let first = world.create(spot_of(1, 0.2)).unwrap();
    let second = world.create(on_demand(1)).unwrap();
    assert_ne!(first.machine_id, second.machine_id);
    assert!(world.state.pod(&first.id).unwrap().is_running());
}

#[test]
fn a_preempted_pod_keeps_its_volume_and_can_bid_again() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 1, true)]);
    let victim = world
        .create(CreatePod {
            volume_in_gb: 10,
            ..spot(0.2)
        })
        .unwrap();
    world.create(spot_of(1, 0.3)).unwrap();

    let listed = assignments(&world.state, &victim.machine_id);
    let mine = listed.iter().find(|a| a.pod_id == victim.id).unwrap();
    assert!(mine.volume.is_some() && mine.run.is_none(), "{mine:?}");

    let machine = world.state.machine(&victim.machine_id).unwrap().clone();
    let gpu_type = world.catalog.get(RTX_4090).unwrap().clone();
    let needed = minimum_bid(&world.state, &machine, &gpu_type, 1, Some(&victim.id));
    assert_eq!(needed, Some(0.31));
    let refused = world.bid_resume(&victim.id, 0.3, 1).unwrap_err();
    assert!(matches!(refused, CommandError::HostGpusBusy { .. }));
    let resumed = world.bid_resume(&victim.id, 0.31, 1).unwrap();
    assert!(resumed.is_running());
    assert!(resumed.preemption.is_none());
}

#[test]
fn on_demand_resume_preempts_spot_pods_on_its_machine() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 2, true)]);
    let mine = world.create(on_demand(2)).unwrap();
    world.stop(&mine.id).unwrap();
    let spot_pod = world.create(spot_of(2, 0.5)).unwrap();
    let resumed = world.resume(&mine.id, None).unwrap();
    assert_eq!(resumed.gpus, vec![0, 1]);
    assert!(!world.state.pod(&spot_pod.id).unwrap().is_running());
}

#[test]
fn the_reported_minimum_bid_gets_the_gpus_and_a_cent_less_does_not() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 2, true)]);
    let gpu_type = world.catalog.get(RTX_4090).unwrap().clone();
    let filters = Filters {
        gpu_count: 2,
        ..Filters::default()
    };
    assert_eq!(
        stock(&world.state, &gpu_type, &filters).minimum_bid_price,
        Some(0.2)
    );

    world.create(spot_of(1, 0.22)).unwrap();
    world.create(spot_of(1, 0.35)).unwrap();
    let minimum = stock(&world.state, &gpu_type, &filters).minimum_bid_price;
    assert_eq!(minimum, Some(0.36));
    assert!(world.create(spot_of(2, 0.35)).is_err());
    assert!(world.create(spot_of(2, 0.36)).is_ok());

    // An on-demand pod preempts the 2-GPU spot pod and holds one GPU: no bid gets two.
    world.create(on_demand(1)).unwrap();
    let held = stock(&world.state, &gpu_type, &filters);
    assert_eq!(
        held.minimum_bid_price, None,
        "only on-demand pods hold the GPUs"
    );
    assert_eq!(held.stock_status, None);
}

#[test]
fn a_bid_that_would_reach_the_on_demand_price_is_not_offered() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 1, true)]);
    world.create(spot_of(1, 0.68)).unwrap();
    let gpu_type = world.catalog.get(RTX_4090).unwrap().clone();
    let filters = Filters {
        gpu_count: 1,
        ..Filters::default()
    };
    let figures = stock(&world.state, &gpu_type, &filters);
    assert_eq!(figures.minimum_bid_price, None);
    assert!(
        figures.stock_status.is_some(),
        "an on-demand pod can still have it"
    );
}

/// The worked example of the README, step by step.
#[test]
fn the_readme_worked_example_holds() {
    let mut world = World::with_machines(vec![machine(RTX_4090, 2, true)]);
    let gpu_type = world.catalog.get(RTX_4090).unwrap().clone();
    let one_gpu = Filters {
        gpu_count: 1,
        ..Filters::default()
    };
    let alice = world.create(spot_of(1, 0.25)).unwrap();
    let bob = world.create(spot_of(1, 0.30)).unwrap();
    assert_eq!(
        stock(&world.state, &gpu_type, &one_gpu).minimum_bid_price,
        Some(0.26)
    );

    let CommandError::NoCapacity { considered } = world.create(spot_of(1, 0.25)).unwrap_err()
    else {
        panic!("expected no capacity");
    };
    assert_eq!(
        considered[0].reason,
        "1 GPUs wanted: 0 free, 0 held by on-demand pods, 0 by spot bids below $0.25, \
         2 by spot bids of $0.25 or more"
    );

    let carol = world.create(spot_of(1, 0.26)).unwrap();
    assert_eq!(carol.gpus, alice.gpus);
    assert_eq!(
        world.state.pod(&alice.id).unwrap().last_status_change.event,
        "Outbid"
    );

    world.create(on_demand(1)).unwrap();
    assert!(!world.state.pod(&carol.id).unwrap().is_running());
    assert!(world.state.pod(&bob.id).unwrap().is_running());

    let machine = world.state.machine(&alice.machine_id).unwrap().clone();
    let to_resume = minimum_bid(&world.state, &machine, &gpu_type, 1, Some(&alice.id));
    assert_eq!(to_resume, Some(0.31));
    assert!(world.bid_resume(&alice.id, 0.31, 1).unwrap().is_running());
}

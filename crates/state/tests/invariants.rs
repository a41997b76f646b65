//! Property tests: random sequences of commands over several machines keep the invariants
//! that placement promises.

use chrono::Utc;
use podyard_core::command::CreatePod;
use podyard_core::{
    Catalog, CloudType, Command, Gpu, KeyAccess, Machine, MachineId, Outcome, PodId, UserId,
};
use podyard_state::execute::execute;
use podyard_state::scheduler::Filters;
use podyard_state::stock::stock;
use podyard_state::State;
use proptest::prelude::*;

const TYPES: [&str; 2] = ["NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3"];

/// Bids around the floors and on-demand prices of both types, some out of range.
const BID_CENTS: [u32; 12] = [10, 17, 20, 25, 30, 33, 69, 150, 160, 175, 200, 299];

#[derive(Clone, Debug)]
enum Step {
    Create {
        gpu_type: usize,
        gpu_count: u32,
        bid: Option<f64>,
        cloud: u8,
    },
    Stop(usize),
    Resume(usize, Option<u32>),
    BidResume(usize, f64, u32),
    Terminate(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..2usize, 1..5u32, prop::option::of(Just(0.0)), 0..3u8).prop_map(
            |(gpu_type, gpu_count, bid, cloud)| Step::Create {
                gpu_type,
                gpu_count,
                bid,
                cloud
            }
        ),
        (0..20usize).prop_map(Step::Stop),
        (0..20usize, prop::option::of(0..4u32)).prop_map(|(i, n)| Step::Resume(i, n)),
        (
            0..20usize,
            prop::sample::select(BID_CENTS.to_vec()),
            0..4u32
        )
            .prop_map(|(i, c, n)| Step::BidResume(i, f64::from(c) / 100.0, n)),
        (0..20usize).prop_map(Step::Terminate),
    ]
}

fn machine(index: usize) -> Machine {
    Machine {
        id: MachineId::new(format!("machine{index:05}")),
        host_hex: format!("{index:08x}"),
        hostname: format!("host{index}"),
        gpu_type_id: TYPES[index % 2].to_string(),
        gpus: (0..(2 + index as u32 % 3))
            .map(|i| Gpu {
                index: i,
                uuid: format!("GPU-{index}-{i}"),
            })
            .collect(),
        emulated: true,
        vcpu_count: 16,
        memory_in_gb: 64,
        disk_in_gb: 500,
        data_center_id: "DC-1".into(),
        location: "Here".into(),
        country_code: "XX".into(),
        secure_cloud: !index.is_multiple_of(3),
        public_ip: None,
        cuda_version: None,
    }
}

fn command(step: &Step, owner: &UserId, pods: &[PodId]) -> Option<Command> {
    let pick = |i: usize| pods.get(i % pods.len().max(1)).cloned();
    let owner = owner.clone();
    Some(match step.clone() {
        Step::Create {
            gpu_type,
            gpu_count,
            bid,
            cloud,
        } => Command::CreatePod {
            owner,
            request: Box::new(CreatePod {
                gpu_count,
                bid_per_gpu: bid,
                cloud_type: [CloudType::All, CloudType::Secure, CloudType::Community]
                    [cloud as usize],
                ..CreatePod::new("img", TYPES[gpu_type])
            }),
        },
        Step::Stop(i) => Command::StopPod {
            owner,
            pod_id: pick(i)?,
        },
        Step::Resume(i, gpu_count) => Command::ResumePod {
            owner,
            pod_id: pick(i)?,
            gpu_count,
        },
        Step::BidResume(i, bid_per_gpu, gpu_count) => Command::BidResumePod {
            owner,
            pod_id: pick(i)?,
            bid_per_gpu,
            gpu_count,
        },
        Step::Terminate(i) => Command::TerminatePod {
            owner,
            pod_id: pick(i)?,
        },
    })
}

/// A bid: a whole-cent amount, or exactly the minimum the market reports at that moment.
#[derive(Clone, Copy, Debug)]
enum Bid {
    Cents(u32),
    ReportedMinimum,
}

fn cents(bid: Bid) -> Option<f64> {
    match bid {
        Bid::Cents(c) => Some(f64::from(c) / 100.0),
        Bid::ReportedMinimum => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_commands_keep_the_market_invariants(
        steps in prop::collection::vec(step(), 1..80),
        bids in prop::collection::vec(
            // Few distinct amounts, so that equal bids meet often.
            prop_oneof![
                3 => prop::sample::select(BID_CENTS.to_vec()).prop_map(Bid::Cents),
                1 => Just(Bid::ReportedMinimum),
            ],
            80,
        ),
    ) {
        let catalog = Catalog::default();
        let mut state = State::default();
        let apply = |state: &mut State, command| {
            let result = execute(state, &catalog, command, Utc::now());
            if let Ok((changes, _)) = &result {
                for change in changes {
                    state.apply(change);
                }
            }
            result.map(|(_, outcome)| outcome)
        };
        let owner = match apply(&mut state, Command::AddUser {
            name: "u".into(), access: KeyAccess::ReadWrite, admin: false,
        }) {
            Ok(Outcome::UserAdded { user, .. }) => user.id,
            other => panic!("{other:?}"),
        };
        for i in 0..5 {
            apply(&mut state, Command::RegisterMachine { machine: machine(i) }).unwrap();
        }
        let mut pods: Vec<PodId> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let mut step = step.clone();
            let mut promise = None;

            // What the market reports before a plain create is what the create gets.
            if let Step::Create { gpu_type, gpu_count, bid, cloud } = &mut step {
                let gpu_type_def = catalog.get(TYPES[*gpu_type]).unwrap();
                let filters = Filters { gpu_count: *gpu_count, ..Filters::default() };
                let figures = stock(&state, gpu_type_def, &filters);
                if bid.is_some() {
                    *bid = cents(bids[i]).or(figures.minimum_bid_price).or(Some(1.0));
                }
                if *cloud == 0 {
                    promise = Some(match bid {
                        Some(_) => (figures.minimum_bid_price, *bid, true),
                        None => (None, None, figures.stock_status.is_some()),
                    });
                }
            }

            let before: Vec<(PodId, bool, f64)> = state
                .pods()
                .filter(|p| p.is_running())
                .map(|p| (p.id.clone(), p.is_spot(), p.price_per_gpu))
                .collect();
            let acted_on = match &step {
                Step::Stop(i) | Step::Terminate(i) | Step::Resume(i, _)
                | Step::BidResume(i, _, _) => pods.get(i % pods.len().max(1)).cloned(),
                Step::Create { .. } => None,
            };
            let Some(command) = command(&step, &owner, &pods) else { continue };
            let is_stop = matches!(step, Step::Stop(_) | Step::Terminate(_));
            let outcome = apply(&mut state, command);

            match promise {
                Some((minimum, Some(bid), _)) => {
                    if outcome.is_ok() {
                        prop_assert!(minimum.is_some_and(|m| bid >= m - 1e-9),
                            "bid {} got GPUs below the reported minimum {:?}", bid, minimum);
                    }
                    if minimum == Some(bid) {
                        prop_assert!(outcome.is_ok(), "the reported minimum {} failed: {:?}",
                            bid, outcome);
                    }
                }
                Some((_, None, available)) => {
                    prop_assert_eq!(available, outcome.is_ok(), "{:?}", outcome);
                }
                None => {}
            }

            let started = match &outcome {
                Ok(Outcome::Pod(pod)) => {
                    if !pods.contains(&pod.id) {
                        pods.push(pod.id.clone());
                    }
                    let stored = state.pod(&pod.id).unwrap();
                    prop_assert_eq!(pod.cost_per_hr(), stored.cost_per_hr(),
                        "the answer and the state disagree on cost");
                    Some((**pod).clone())
                }
                _ => None,
            };

            // Every pod that stopped running without being asked was outbid, fairly.
            for (id, was_spot, bid) in &before {
                let now = state.pod(id);
                let still_running = now.is_some_and(|p| p.is_running());
                if still_running || (is_stop && acted_on.as_ref() == Some(id)) {
                    continue;
                }
                prop_assert!(*was_spot, "on-demand pod {} was preempted", id);
                let now = now.unwrap();
                prop_assert_eq!(&now.last_status_change.event, "Outbid");
                let winner = started.as_ref().expect("a preemption has a winner");
                prop_assert_eq!(&winner.machine_id, &now.machine_id);
                if let Some(winning_bid) = winner.bid_per_gpu() {
                    prop_assert!(winning_bid > *bid, "{} displaced {}", winning_bid, bid);
                }
            }

            prop_assert_eq!(state.check_invariants(), Ok(()));
            for pod in state.pods() {
                let billed = if pod.is_running() {
                    podyard_core::pod::round_cents(pod.price_per_gpu * f64::from(pod.gpu_count))
                } else {
                    0.0
                };
                prop_assert_eq!(pod.cost_per_hr(), billed);
                if let Some(bid) = pod.bid_per_gpu() {
                    let machine = state.machine(&pod.machine_id).unwrap();
                    let t = catalog.get(&machine.gpu_type_id).unwrap();
                    let secure = machine.secure_cloud;
                    prop_assert!(bid >= t.spot_floor(secure) && bid < t.on_demand_price(secure));
                }
            }
        }
    }
}

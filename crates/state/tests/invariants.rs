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
        (0..2usize, 1..5u32, prop::option::of(0.1..3.0f64), 0..3u8).prop_map(
            |(gpu_type, gpu_count, bid, cloud)| Step::Create {
                gpu_type,
                gpu_count,
                bid,
                cloud
            }
        ),
        (0..20usize).prop_map(Step::Stop),
        (0..20usize, prop::option::of(0..4u32)).prop_map(|(i, n)| Step::Resume(i, n)),
        (0..20usize, 0.1..3.0f64, 0..4u32).prop_map(|(i, b, n)| Step::BidResume(i, b, n)),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_commands_never_double_allocate_and_stock_matches_placement(
        steps in prop::collection::vec(step(), 1..60)
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
        for step in &steps {
            // What stock promises before the step is what a create can get.
            if let Step::Create { gpu_type, gpu_count, bid: None, cloud: 0 } = step {
                let gpu_type_def = catalog.get(TYPES[*gpu_type]).unwrap();
                let filters = Filters { gpu_count: *gpu_count, ..Filters::default() };
                let promised = stock(&state, gpu_type_def, &filters).stock_status.is_some();
                let command = command(step, &owner, &pods).unwrap();
                let outcome = apply(&mut state, command);
                prop_assert_eq!(promised, outcome.is_ok(), "{:?}", outcome);
                if let Ok(Outcome::Pod(pod)) = outcome {
                    pods.push(pod.id.clone());
                }
            } else if let Some(command) = command(step, &owner, &pods) {
                if let Ok(Outcome::Pod(pod)) = apply(&mut state, command) {
                    if !pods.contains(&pod.id) {
                        pods.push(pod.id.clone());
                    }
                }
            }
            prop_assert_eq!(state.check_invariants(), Ok(()));
            for pod in state.pods() {
                let expected = if pod.is_running() {
                    podyard_core::pod::round_cents(pod.price_per_gpu * f64::from(pod.gpu_count))
                } else {
                    0.0
                };
                prop_assert_eq!(pod.cost_per_hr(), expected);
                if let Some(bid) = pod.bid_per_gpu() {
                    let t = catalog.get(&state.machine(&pod.machine_id).unwrap().gpu_type_id)
                        .unwrap();
                    let secure = state.machine(&pod.machine_id).unwrap().secure_cloud;
                    prop_assert!(bid >= t.spot_floor(secure) && bid < t.on_demand_price(secure));
                }
            }
        }
    }
}

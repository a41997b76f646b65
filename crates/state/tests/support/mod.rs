//! A state with machines and a user, driven through `execute` as the state core would.

#![allow(dead_code)]

use chrono::Utc;
use podyard_core::command::CreatePod;
use podyard_core::{
    Catalog, Command, CommandError, Gpu, KeyAccess, Machine, MachineId, Outcome, Pod, PodId, UserId,
};
use podyard_state::execute::execute;
use podyard_state::State;

pub const RTX_4090: &str = "NVIDIA GeForce RTX 4090";

pub fn machine(gpu_type: &str, gpus: u32, secure: bool) -> Machine {
    Machine {
        id: MachineId::generate(),
        host_hex: "0badcafe".into(),
        hostname: "test".into(),
        gpu_type_id: gpu_type.into(),
        gpus: (0..gpus)
            .map(|i| Gpu {
                index: i,
                uuid: format!("GPU-{i}"),
            })
            .collect(),
        emulated: true,
        vcpu_count: 8 * gpus,
        memory_in_gb: 32 * gpus,
        disk_in_gb: 1000,
        data_center_id: "LOCAL-1".into(),
        location: "Local".into(),
        country_code: "XX".into(),
        secure_cloud: secure,
        public_ip: None,
        cuda_version: None,
    }
}

pub struct World {
    pub state: State,
    pub catalog: Catalog,
    pub owner: UserId,
}

impl World {
    pub fn with_machines(machines: Vec<Machine>) -> Self {
        let mut world = World {
            state: State::default(),
            catalog: Catalog::default(),
            owner: UserId::generate(),
        };
        let outcome = world
            .run(Command::AddUser {
                name: "alice".into(),
                access: KeyAccess::ReadWrite,
                admin: false,
            })
            .unwrap();
        let Outcome::UserAdded { user, .. } = outcome else {
            panic!("expected a user")
        };
        world.owner = user.id;
        for machine in machines {
            world.run(Command::RegisterMachine { machine }).unwrap();
        }
        world
    }

    pub fn run(&mut self, command: Command) -> Result<Outcome, CommandError> {
        let (changes, outcome) = execute(&self.state, &self.catalog, command, Utc::now())?;
        for change in &changes {
            self.state.apply(change);
        }
        self.state.check_invariants().unwrap();
        Ok(outcome)
    }

    pub fn create(&mut self, request: CreatePod) -> Result<Pod, CommandError> {
        self.run(Command::CreatePod {
            owner: self.owner.clone(),
            request: Box::new(request),
        })
        .map(pod)
    }

    pub fn stop(&mut self, id: &PodId) -> Result<Pod, CommandError> {
        self.run(Command::StopPod {
            owner: self.owner.clone(),
            pod_id: id.clone(),
        })
        .map(pod)
    }

    pub fn bid_resume(
        &mut self,
        id: &PodId,
        bid: f64,
        gpu_count: u32,
    ) -> Result<Pod, CommandError> {
        self.run(Command::BidResumePod {
            owner: self.owner.clone(),
            pod_id: id.clone(),
            bid_per_gpu: bid,
            gpu_count,
        })
        .map(pod)
    }

    pub fn resume(&mut self, id: &PodId, gpu_count: Option<u32>) -> Result<Pod, CommandError> {
        self.run(Command::ResumePod {
            owner: self.owner.clone(),
            pod_id: id.clone(),
            gpu_count,
        })
        .map(pod)
    }
}

pub fn pod(outcome: Outcome) -> Pod {
    match outcome {
        Outcome::Pod(pod) => *pod,
        other => panic!("expected a pod, got {other:?}"),
    }
}

pub fn spot(bid: f64) -> CreatePod {
    CreatePod {
        bid_per_gpu: Some(bid),
        ..CreatePod::new("img", RTX_4090)
    }
}

//! The in-memory state: every record of the store plus what agents observe, with the
//! indexes the scheduler and the API read. It changes only through [`State::apply`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use podyard_core::user::hash_key;
use podyard_core::{
    ApiKey, Change, KeyAccess, Machine, MachineId, Observation, Pod, PodId, User, UserId,
};
use podyard_store::Snapshot;

#[derive(Clone, Debug, Default)]
pub struct State {
    users: HashMap<UserId, User>,
    keys: HashMap<String, ApiKey>,
    machines: BTreeMap<MachineId, Machine>,
    pods: BTreeMap<PodId, Pod>,
    /// GPU index → pod holding it, per machine; derived from running pods.
    allocations: HashMap<MachineId, BTreeMap<u32, PodId>>,
    observed: HashMap<PodId, Observation>,
    /// When each GPU was last released, as a sequence number. Free GPUs released longest
    /// ago are allocated first, so that a new start rarely lands on a GPU whose previous
    /// container is still stopping (and would have to wait for it). Not stored: after a
    /// restart the order is by index again.
    released: HashMap<MachineId, HashMap<u32, u64>>,
    release_seq: u64,
}

impl State {
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut state = State::default();
        let changes = snapshot
            .users
            .into_iter()
            .map(Change::PutUser)
            .chain(snapshot.api_keys.into_iter().map(Change::PutApiKey))
            .chain(snapshot.machines.into_iter().map(Change::PutMachine))
            .chain(snapshot.pods.into_iter().map(Change::PutPod));
        for change in changes {
            state.apply(&change);
        }
        state
    }

    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutUser(user) => {
                self.users.insert(user.id.clone(), user.clone());
            }
            Change::PutApiKey(key) => {
                self.keys.insert(key.hash.clone(), key.clone());
            }
            Change::PutMachine(machine) => {
                self.machines.insert(machine.id.clone(), machine.clone());
            }
            Change::PutPod(pod) => self.put_pod(pod.clone()),
            Change::DeletePod(id) => {
                if let Some(old) = self.pods.remove(id) {
                    self.release(&old);
                }
                self.observed.remove(id);
            }
            Change::Observe(observation) => {
                let current = self.pods.get(&observation.pod_id);
                if current.is_some_and(|p| p.is_running() && p.generation == observation.generation)
                {
                    self.observed
                        .insert(observation.pod_id.clone(), observation.clone());
                }
            }
        }
    }

    fn put_pod(&mut self, pod: Pod) {
        if let Some(old) = self.pods.get(&pod.id).cloned() {
            self.release(&old);
        }
        let held = self.allocations.entry(pod.machine_id.clone()).or_default();
        for gpu in &pod.gpus {
            held.insert(*gpu, pod.id.clone());
        }
        let stale = self
            .observed
            .get(&pod.id)
            .is_some_and(|o| !pod.is_running() || o.generation != pod.generation);
        if stale {
            self.observed.remove(&pod.id);
        }
        self.pods.insert(pod.id.clone(), pod);
    }

    fn release(&mut self, pod: &Pod) {
        if let Some(held) = self.allocations.get_mut(&pod.machine_id) {
            held.retain(|_, holder| holder != &pod.id);
        }
        let released = self.released.entry(pod.machine_id.clone()).or_default();
        for gpu in &pod.gpus {
            self.release_seq += 1;
            released.insert(*gpu, self.release_seq);
        }
    }

    /// The user and access of a plain API key, if the key is known.
    pub fn authenticate(&self, key: &str) -> Option<(&User, KeyAccess)> {
        let api_key = self.keys.get(&hash_key(key))?;
        let user = self.users.get(&api_key.user_id)?;
        Some((user, api_key.access))
    }

    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id)
    }

    pub fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.values().find(|u| u.name == name)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn machine(&self, id: &MachineId) -> Option<&Machine> {
        self.machines.get(id)
    }

    pub fn machines(&self) -> impl Iterator<Item = &Machine> {
        self.machines.values()
    }

    pub fn pod(&self, id: &PodId) -> Option<&Pod> {
        self.pods.get(id)
    }

    /// A pod as its owner sees it: another user's pod is indistinguishable from none.
    pub fn pod_of(&self, owner: &UserId, id: &PodId) -> Option<&Pod> {
        self.pods.get(id).filter(|p| &p.owner == owner)
    }

    pub fn pods_of<'a>(&'a self, owner: &'a UserId) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods.values().filter(move |p| &p.owner == owner)
    }

    pub fn pods_on<'a>(&'a self, machine: &MachineId) -> impl Iterator<Item = &'a Pod> + 'a {
        let machine = machine.clone();
        self.pods.values().filter(move |p| p.machine_id == machine)
    }

    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }

    pub fn observation(&self, pod: &PodId) -> Option<&Observation> {
        self.observed.get(pod)
    }

    /// Indices of the machine's GPUs that no pod holds: never-released ones first by
    /// index, then those released longest ago.
    pub fn free_gpus(&self, machine: &Machine) -> Vec<u32> {
        let held = self.allocations.get(&machine.id);
        let released = self.released.get(&machine.id);
        let mut free: Vec<u32> = machine
            .gpus
            .iter()
            .map(|g| g.index)
            .filter(|i| !held.is_some_and(|h| h.contains_key(i)))
            .collect();
        free.sort_by_key(|i| (released.and_then(|r| r.get(i)).copied().unwrap_or(0), *i));
        free
    }

    /// Number of the machine's GPUs held by pods.
    pub fn used_gpu_count(&self, machine: &MachineId) -> u32 {
        self.allocations.get(machine).map_or(0, |h| h.len() as u32)
    }

    /// Checks the invariants every committed state keeps; tests call it after each step.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen: HashMap<&MachineId, BTreeSet<u32>> = HashMap::new();
        for pod in self.pods.values() {
            let machine = self
                .machines
                .get(&pod.machine_id)
                .ok_or_else(|| format!("pod {} is on unknown machine", pod.id))?;
            if !pod.is_running() && !pod.gpus.is_empty() {
                return Err(format!("stopped pod {} holds GPUs", pod.id));
            }
            if pod.is_running() && pod.gpus.len() as u32 != pod.gpu_count {
                return Err(format!(
                    "pod {} holds a different count than it asked",
                    pod.id
                ));
            }
            for gpu in &pod.gpus {
                if !machine.gpus.iter().any(|g| g.index == *gpu) {
                    return Err(format!("pod {} holds GPU {gpu} its machine lacks", pod.id));
                }
                if !seen.entry(&pod.machine_id).or_default().insert(*gpu) {
                    return Err(format!("GPU {gpu} of {} allocated twice", pod.machine_id));
                }
            }
        }
        Ok(())
    }
}

//! `myself`: the calling user and its pods.

use async_graphql::{Context, Object, SimpleObject};
use podyard_core::pod::round_cents;
use podyard_core::User;

use crate::caller::{api, reader};
use crate::data_center::DataCenter;
use crate::pod::PodView;

pub struct UserView(User);

#[Object(name = "User")]
impl UserView {
    async fn id(&self) -> &str {
        self.0.id.as_str()
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn pub_key(&self) -> &str {
        &self.0.pub_key
    }

    /// RunPod's identity-provider id. podyard has no external identity provider: null.
    async fn auth_id(&self) -> Option<String> {
        None
    }

    /// Network volumes are not supported yet: always empty.
    async fn network_volumes(&self) -> Vec<NetworkVolume> {
        Vec::new()
    }

    /// Saved registry credentials are not supported yet (images are not pulled): always
    /// empty.
    async fn container_registry_creds(&self) -> Vec<ContainerRegistryCreds> {
        Vec::new()
    }

    /// Prepaid balance. podyard keeps no balance, so this is null.
    async fn client_balance(&self) -> Option<f64> {
        None
    }

    /// What the user's running pods cost per hour together.
    async fn current_spend_per_hr(&self, ctx: &Context<'_>) -> f64 {
        api(ctx)
            .core
            .read(|state| round_cents(state.pods_of(&self.0.id).map(|p| p.cost_per_hr()).sum()))
    }

    async fn pods(&self, ctx: &Context<'_>) -> Vec<PodView> {
        let core = &api(ctx).core;
        core.read(|state| {
            state
                .pods_of(&self.0.id)
                .filter_map(|pod| PodView::load(state, core.catalog(), pod))
                .collect()
        })
    }
}

/// RunPod's network volume, for clients that list them; podyard has none yet.
#[derive(SimpleObject)]
pub struct NetworkVolume {
    id: String,
    name: String,
    size: i32,
    data_center_id: String,
    data_center: Option<DataCenter>,
}

/// RunPod's saved registry credentials, for clients that list them; podyard has none.
#[derive(SimpleObject)]
pub struct ContainerRegistryCreds {
    id: String,
    name: String,
}

#[derive(Default)]
pub struct MyselfQuery;

#[Object]
impl MyselfQuery {
    async fn myself(&self, ctx: &Context<'_>) -> async_graphql::Result<UserView> {
        let id = reader(ctx)?;
        api(ctx)
            .core
            .read(|state| state.user(&id).cloned())
            .map(UserView)
            .ok_or_else(|| async_graphql::Error::new("the caller's user no longer exists"))
    }
}

//! `myself`: the calling user and its pods.

use async_graphql::{Context, Object};
use podyard_core::pod::round_cents;
use podyard_core::User;

use crate::caller::{api, reader};
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

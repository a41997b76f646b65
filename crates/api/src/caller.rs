//! Who is calling: resolved once per request from the API key, then read by resolvers.

use async_graphql::{Context, ErrorExtensions};
use podyard_core::{KeyAccess, UserId};
use podyard_state::StateCore;

use crate::error::code;

/// The authenticated user of a request, if a key was given.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Option<(UserId, KeyAccess)>,
}

/// What every resolver reads from the request context.
pub struct ApiContext {
    pub core: StateCore,
    pub caller: Caller,
}

pub fn api<'a>(ctx: &Context<'a>) -> &'a ApiContext {
    ctx.data_unchecked::<ApiContext>()
}

/// The calling user, or the error that makes the HTTP answer a 401.
pub fn reader(ctx: &Context<'_>) -> async_graphql::Result<UserId> {
    match &api(ctx).caller.user {
        Some((user, _)) => Ok(user.clone()),
        None => Err(async_graphql::Error::new(
            "an API key is required: pass it as ?api_key=KEY or Authorization: Bearer KEY",
        )
        .extend_with(|_, e| e.set("code", code::UNAUTHENTICATED))),
    }
}

/// The calling user if its key may mutate. A read-only key gets `Unauthorized` (compat).
pub fn writer(ctx: &Context<'_>) -> async_graphql::Result<UserId> {
    let user = reader(ctx)?;
    match api(ctx).caller.user {
        Some((_, KeyAccess::ReadWrite)) => Ok(user),
        _ => Err(async_graphql::Error::new("Unauthorized")
            .extend_with(|_, e| e.set("code", code::FORBIDDEN))),
    }
}

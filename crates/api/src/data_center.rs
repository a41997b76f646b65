//! `dataCenters`: the data centers that machines report.

use std::collections::BTreeMap;

use async_graphql::{Context, Object, SimpleObject};

use crate::caller::api;

#[derive(SimpleObject, Clone)]
pub struct DataCenter {
    id: String,
    name: String,
    location: String,
    country_code: String,
    listed: bool,
}

#[derive(Default)]
pub struct DataCenterQuery;

#[Object]
impl DataCenterQuery {
    /// Works without an API key.
    async fn data_centers(&self, ctx: &Context<'_>) -> Vec<DataCenter> {
        api(ctx).core.read(|state| {
            let mut by_id = BTreeMap::new();
            for machine in state.machines() {
                by_id
                    .entry(machine.data_center_id.clone())
                    .or_insert_with(|| DataCenter {
                        id: machine.data_center_id.clone(),
                        name: machine.data_center_id.clone(),
                        location: machine.location.clone(),
                        country_code: machine.country_code.clone(),
                        listed: true,
                    });
            }
            by_id.into_values().collect()
        })
    }
}

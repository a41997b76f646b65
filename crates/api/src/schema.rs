//! The schema: one root per resource, merged.

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::data_center::DataCenterQuery;
use crate::gpu_type::GpuTypeQuery;
use crate::myself::MyselfQuery;
use crate::pod::{PodMutation, PodQuery};

#[derive(MergedObject, Default)]
pub struct Query(MyselfQuery, PodQuery, GpuTypeQuery, DataCenterQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(PodMutation);

pub type PodyardSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn build_schema() -> PodyardSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(16)
        .limit_complexity(5_000)
        .finish()
}

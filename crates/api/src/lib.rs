//! The RunPod-compatible GraphQL API over HTTP.
//!
//! `POST /graphql` (and `//graphql`, which one client sends) runs a query against the
//! state core. [`http`] owns the envelope: key extraction, status codes, the error shape;
//! [`schema`] assembles the resources, one file each. Every mutation becomes one
//! [`podyard_core::Command`].

mod caller;
mod data_center;
mod error;
mod gpu_type;
pub mod http;
mod myself;
mod pod;
mod pod_input;
mod scalars;
mod schema;

pub use http::router;
pub use schema::{build_schema, PodyardSchema};

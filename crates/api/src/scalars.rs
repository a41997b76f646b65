//! Custom scalars of RunPod's schema.

use async_graphql::{InputValueResult, Scalar, ScalarType, Value};

/// RunPod's `Void`: a result with no content, written as `null`. Clients call
/// `podTerminate` without a selection set and read `{"podTerminate": null}` as success.
pub struct Void;

#[Scalar(name = "Void")]
impl ScalarType for Void {
    fn parse(_value: Value) -> InputValueResult<Self> {
        Ok(Void)
    }

    fn to_value(&self) -> Value {
        Value::Null
    }
}

//! The one place where refusals become API errors with stable codes.

use async_graphql::ErrorExtensions;
use podyard_core::CommandError;
use tracing::error;

/// Stable `extensions.code` values.
pub mod code {
    pub const POD_NOT_FOUND: &str = "POD_NOT_FOUND";
    pub const NO_CAPACITY: &str = "NO_CAPACITY";
    pub const HOST_GPUS_BUSY: &str = "HOST_GPUS_BUSY";
    pub const BID_TOO_LOW: &str = "BID_TOO_LOW";
    pub const BID_TOO_HIGH: &str = "BID_TOO_HIGH";
    pub const WRONG_POD_TYPE: &str = "WRONG_POD_TYPE";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
}

/// Generic text of internal failures; the detail goes to the log, once.
pub const INTERNAL_MESSAGE: &str = "internal server error; the operator can find the cause in \
     the server log";

/// The stable code of a refusal; `None` for failures inside the server.
pub fn code_of(refusal: &CommandError) -> Option<&'static str> {
    Some(match refusal {
        CommandError::PodNotFound { .. } | CommandError::PodNotFoundToTerminate { .. } => {
            code::POD_NOT_FOUND
        }
        CommandError::HostGpusBusy { .. } => code::HOST_GPUS_BUSY,
        CommandError::NoCapacity { .. } => code::NO_CAPACITY,
        CommandError::SpotResumedOnDemand { .. } | CommandError::OnDemandResumedAsSpot { .. } => {
            code::WRONG_POD_TYPE
        }
        CommandError::BidTooLow { .. } => code::BID_TOO_LOW,
        CommandError::BidTooHigh { .. } => code::BID_TOO_HIGH,
        CommandError::UnknownGpuType { .. }
        | CommandError::GpuCountTooLarge { .. }
        | CommandError::InvalidInput { .. }
        | CommandError::UserNotFound => code::BAD_USER_INPUT,
        CommandError::UserExists { .. } => code::CONFLICT,
        CommandError::Store(_) | CommandError::Stopped | CommandError::Bug { .. } => return None,
    })
}

/// Logs a failure inside the server, once, and gives the text clients see for it.
pub fn internal(refusal: &CommandError) -> &'static str {
    error!(error = %refusal, source = ?std::error::Error::source(refusal),
        "command failed inside the server");
    INTERNAL_MESSAGE
}

pub fn command_error(refusal: CommandError) -> async_graphql::Error {
    let Some(code) = code_of(&refusal) else {
        return async_graphql::Error::new(internal(&refusal))
            .extend_with(|_, e| e.set("code", code::INTERNAL_SERVER_ERROR));
    };
    let detail = detail(&refusal);
    async_graphql::Error::new(refusal.to_string()).extend_with(|_, e| {
        e.set("code", code);
        if let Some((key, value)) = detail {
            e.set(key, value);
        }
    })
}

/// Why a start got no GPUs, beyond the message clients match on: for a create, each
/// machine considered and what ruled it out; for a resume, what holds the host's GPUs.
fn detail(refusal: &CommandError) -> Option<(&'static str, async_graphql::Value)> {
    use async_graphql::Value;
    match refusal {
        CommandError::NoCapacity { considered } => {
            let list = considered
                .iter()
                .map(|verdict| {
                    let mut entry = async_graphql::indexmap::IndexMap::new();
                    entry.insert(
                        async_graphql::Name::new("machineId"),
                        Value::from(verdict.machine_id.as_str()),
                    );
                    entry.insert(
                        async_graphql::Name::new("reason"),
                        Value::from(verdict.reason.as_str()),
                    );
                    Value::Object(entry)
                })
                .collect();
            Some(("considered", Value::List(list)))
        }
        CommandError::HostGpusBusy { reason, .. } => Some(("reason", Value::from(reason.as_str()))),
        _ => None,
    }
}

/// A request the API itself refuses before any command is made.
pub fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into())
        .extend_with(|_, e| e.set("code", code::BAD_USER_INPUT))
}

//! Create-input fields that RunPod accepts in a shape podyard's command does not hold
//! directly, turned into that shape here so that the state core sees one form only.

use serde_json::Value;

use crate::error::bad_input;

/// RunPod takes `dockerArgs` either as a command line or as JSON,
/// `{"cmd": [...], "entrypoint": [...]}` (dstack sends the JSON form). podyard's pod holds
/// one command line, so the JSON form becomes the entrypoint's words followed by the
/// cmd's, each shell-quoted. Anything that is not a JSON object is a command line already
/// and passes unchanged.
///
/// TODO: once the pod record and the container spec carry an entrypoint of their own,
/// replace the image's ENTRYPOINT too (today the command replaces only its CMD).
pub fn docker_command(args: String) -> async_graphql::Result<String> {
    if !args.trim_start().starts_with('{') {
        return Ok(args);
    }
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&args) else {
        return Ok(args);
    };
    let mut words = Vec::new();
    for key in ["entrypoint", "cmd"] {
        match fields.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(line)) => words.extend(split(line)?),
            Some(Value::Array(items)) => {
                for item in items {
                    let Value::String(word) = item else {
                        return Err(bad_json(format!("{key} holds a non-string item")));
                    };
                    words.push(word.clone());
                }
            }
            Some(_) => return Err(bad_json(format!("{key} must be a list of strings"))),
        }
    }
    if let Some(other) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "cmd" | "entrypoint"))
    {
        return Err(bad_json(format!("unknown key {other:?}")));
    }
    Ok(shell_words::join(words))
}

fn split(line: &str) -> async_graphql::Result<Vec<String>> {
    shell_words::split(line).map_err(|e| bad_json(format!("cannot split {line:?}: {e}")))
}

fn bad_json(reason: String) -> async_graphql::Error {
    bad_input(format!(
        "dockerArgs: JSON form {{\"cmd\": [...], \"entrypoint\": [...]}}: {reason}"
    ))
}

/// The CUDA versions a pod may run on, as the scheduler matches them: a list, where an
/// empty list means any and a machine that reports no version matches every list.
///
/// `minCudaVersion` (dstack sends it) is a lower bound, so it becomes the versions that
/// the machines report and that meet it, plus the bound itself: never empty, which would
/// mean any. With `allowedCudaVersions` as well, the allowed ones below the bound drop.
pub fn cuda_versions(
    allowed: Vec<String>,
    minimum: Option<String>,
    machine_versions: &[String],
) -> async_graphql::Result<Vec<String>> {
    let Some(minimum) = minimum else {
        return Ok(allowed);
    };
    let bound = parse_version(&minimum).ok_or_else(|| {
        bad_input(format!(
            "minCudaVersion: {minimum:?} is not a version like \"12.4\""
        ))
    })?;
    let meets = |v: &String| parse_version(v).is_some_and(|v| v >= bound);
    if !allowed.is_empty() {
        let kept: Vec<String> = allowed.iter().filter(|v| meets(v)).cloned().collect();
        if kept.is_empty() {
            return Err(bad_input(format!(
                "allowedCudaVersions: none of {allowed:?} is at least minCudaVersion {minimum:?}"
            )));
        }
        return Ok(kept);
    }
    let mut versions = vec![minimum.clone()];
    for version in machine_versions.iter().filter(|v| meets(v)) {
        if !versions.contains(version) {
            versions.push(version.clone());
        }
    }
    Ok(versions)
}

/// `"12.4"` as `[12, 4]`, so that `12.10` sorts after `12.9`.
fn parse_version(text: &str) -> Option<Vec<u32>> {
    text.trim()
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_docker_args_become_one_command_line() {
        let args = r#"{"cmd": ["echo hi && sleep infinity"], "entrypoint": ["/bin/sh", "-c"]}"#;
        let line = docker_command(args.to_string()).unwrap();
        assert_eq!(line, "/bin/sh -c 'echo hi && sleep infinity'");
        assert_eq!(
            shell_words::split(&line).unwrap(),
            ["/bin/sh", "-c", "echo hi && sleep infinity"]
        );
    }

    #[test]
    fn plain_docker_args_pass_unchanged() {
        for args in ["sleep infinity", "", "{ not json", "sh -c '{\"a\": 1}'"] {
            assert_eq!(docker_command(args.to_string()).unwrap(), args);
        }
    }

    #[test]
    fn json_docker_args_with_unknown_keys_are_refused() {
        let error = docker_command(r#"{"command": ["x"]}"#.to_string()).unwrap_err();
        assert!(
            error.message.contains("unknown key \"command\""),
            "{}",
            error.message
        );
    }

    #[test]
    fn min_cuda_version_keeps_machine_versions_that_meet_it_and_itself() {
        let machines = ["12.2".to_string(), "12.10".to_string(), "12.8".to_string()];
        let versions = cuda_versions(Vec::new(), Some("12.8".into()), &machines).unwrap();
        assert_eq!(versions, ["12.8", "12.10"]);
    }

    #[test]
    fn min_cuda_version_narrows_the_allowed_list() {
        let allowed = vec!["12.1".to_string(), "12.9".to_string()];
        assert_eq!(
            cuda_versions(allowed, Some("12.8".into()), &[]).unwrap(),
            ["12.9"]
        );
        let too_old = vec!["12.1".to_string()];
        assert!(cuda_versions(too_old, Some("12.8".into()), &[]).is_err());
    }

    #[test]
    fn no_min_cuda_version_leaves_the_allowed_list_alone() {
        assert!(cuda_versions(Vec::new(), None, &["12.2".into()])
            .unwrap()
            .is_empty());
    }
}
